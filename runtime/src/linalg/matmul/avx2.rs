//! Explicit AVX2+FMA kernels: 6 rows × 2 vectors (6×8 for f64, 6×16 for f32), 12 accumulator
//! registers, one broadcast per row and two panel loads per step.

use super::{LARGE_PANEL, Micro, Problem, SMALL_PANEL, blocked};
use std::arch::x86_64::*;

macro_rules! avx2_kernel {
    ($features:literal, $kernel:ident, $run:ident, $run_large:ident, $t:ty, $mr:expr, $lanes:expr, $vec:ty, $zero:ident,
     $load:ident, $store:ident, $set1:ident, $fma:ident, $add:ident) => {
        /// AVX2+FMA register-tile kernel.
        pub(super) struct $kernel;

        impl Micro<$t> for $kernel {
            const MR: usize = $mr;
            const NR: usize = 2 * $lanes;

            #[inline(always)]
            unsafe fn large(prob: &Problem<$t>) {
                // SAFETY: forwarded (`$run_large` is only reached from `$run`).
                unsafe { $run_large(prob) }
            }

            #[inline(always)]
            unsafe fn pack_b(
                p: &Problem<$t>,
                p0: usize,
                kc: usize,
                j0: usize,
                nr: usize,
                panel: *mut $t,
            ) {
                // SAFETY: forwarded; reached only from the kernel's AVX2 functions.
                unsafe { super::transpose::pack_b(p, p0, kc, j0, nr, 2 * $lanes, panel) }
            }

            #[inline(always)]
            unsafe fn run(
                kc: usize,
                a: *const $t,
                rs_a: usize,
                cs_a: usize,
                mr: usize,
                b: *const $t,
                bs: usize,
                c: *mut $t,
                ldc: usize,
                nr: usize,
                acc_mode: bool,
                bias: *const $t,
            ) {
                // SAFETY: as documented on `Micro::run`; the caller is compiled with the
                // kernel's features (this is only reached through `$run`).
                unsafe {
                    if mr == $mr {
                        Self::tile::<{ $mr }>(kc, a, rs_a, cs_a, b, bs, c, ldc, nr, acc_mode, bias)
                    } else {
                        Self::edge(kc, a, rs_a, cs_a, mr, b, bs, c, ldc, nr, acc_mode, bias)
                    }
                }
            }
        }

        impl $kernel {
            /// The register tile with exactly `R` rows of `A` (`R` ≤ MR): `R × 2` accumulators.
            ///
            /// # Safety
            /// As [`Micro::run`] with `mr = R`.
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn tile<const R: usize>(
                kc: usize,
                a: *const $t,
                rs_a: usize,
                cs_a: usize,
                b: *const $t,
                bs: usize,
                c: *mut $t,
                ldc: usize,
                nr: usize,
                acc_mode: bool,
                bias: *const $t,
            ) {
                const NR: usize = 2 * $lanes;
                // SAFETY: as documented on `Micro::run` with `mr = R`; the caller is compiled
                // with the kernel's features.
                unsafe {
                    let mut rows = [a; R];
                    for (i, r) in rows.iter_mut().enumerate() {
                        *r = a.add(i * rs_a);
                    }
                    let mut acc: [[$vec; 2]; R] = [[$zero(); 2]; R];
                    for pp in 0..kc {
                        let b0 = $load(b.add(pp * bs));
                        let b1 = $load(b.add(pp * bs + $lanes));
                        let off = pp * cs_a;
                        for i in 0..R {
                            let ai = $set1(*rows[i].add(off));
                            acc[i][0] = $fma(ai, b0, acc[i][0]);
                            acc[i][1] = $fma(ai, b1, acc[i][1]);
                        }
                    }
                    if nr == NR {
                        let with_bias = !acc_mode && !bias.is_null();
                        let (c0, c1) = if with_bias {
                            ($load(bias), $load(bias.add($lanes)))
                        } else {
                            ($zero(), $zero())
                        };
                        for i in 0..R {
                            let row = c.add(i * ldc);
                            let (mut v0, mut v1) = (acc[i][0], acc[i][1]);
                            if acc_mode {
                                v0 = $add($load(row), v0);
                                v1 = $add($load(row.add($lanes)), v1);
                            } else if with_bias {
                                v0 = $add(c0, v0);
                                v1 = $add(c1, v1);
                            }
                            $store(row, v0);
                            $store(row.add($lanes), v1);
                        }
                    } else {
                        let mut tmp = [[0.0 as $t; NR]; R];
                        for i in 0..R {
                            $store(tmp[i].as_mut_ptr(), acc[i][0]);
                            $store(tmp[i].as_mut_ptr().add($lanes), acc[i][1]);
                        }
                        for i in 0..R {
                            let row = c.add(i * ldc);
                            for j in 0..nr {
                                let cp = row.add(j);
                                *cp = if acc_mode {
                                    *cp + tmp[i][j]
                                } else if !bias.is_null() {
                                    *bias.add(j) + tmp[i][j]
                                } else {
                                    tmp[i][j]
                                };
                            }
                        }
                    }
                }
            }

            /// The last row tile of a product whose rows are not a multiple of MR: a tile of
            /// exactly `mr` rows, so no FMA is spent on rows that are not there and whole
            /// vectors are stored (the full tile with clamped rows did `MR / mr` times the work
            /// and went through a buffer; a 16-row product is 6 + 6 + 4). Out of line: it runs
            /// once per panel, and seven row counts inlined would bloat every nest.
            ///
            /// # Safety
            /// As [`Micro::run`] with `1 ≤ mr < MR`, and the CPU supports the kernel's features.
            #[target_feature(enable = $features)]
            #[inline(never)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn edge(
                kc: usize,
                a: *const $t,
                rs_a: usize,
                cs_a: usize,
                mr: usize,
                b: *const $t,
                bs: usize,
                c: *mut $t,
                ldc: usize,
                nr: usize,
                acc_mode: bool,
                bias: *const $t,
            ) {
                // SAFETY: forwarded with `mr = R`.
                unsafe {
                    match mr {
                        1 if 1 < $mr => {
                            Self::tile::<1>(kc, a, rs_a, cs_a, b, bs, c, ldc, nr, acc_mode, bias)
                        }
                        2 if 2 < $mr => {
                            Self::tile::<2>(kc, a, rs_a, cs_a, b, bs, c, ldc, nr, acc_mode, bias)
                        }
                        3 if 3 < $mr => {
                            Self::tile::<3>(kc, a, rs_a, cs_a, b, bs, c, ldc, nr, acc_mode, bias)
                        }
                        4 if 4 < $mr => {
                            Self::tile::<4>(kc, a, rs_a, cs_a, b, bs, c, ldc, nr, acc_mode, bias)
                        }
                        5 if 5 < $mr => {
                            Self::tile::<5>(kc, a, rs_a, cs_a, b, bs, c, ldc, nr, acc_mode, bias)
                        }
                        6 if 6 < $mr => {
                            Self::tile::<6>(kc, a, rs_a, cs_a, b, bs, c, ldc, nr, acc_mode, bias)
                        }
                        7 if 7 < $mr => {
                            Self::tile::<7>(kc, a, rs_a, cs_a, b, bs, c, ldc, nr, acc_mode, bias)
                        }
                        _ => unreachable!("an edge tile has 1..MR rows"),
                    }
                }
            }
        }

        /// The blocked product compiled for the kernel's CPU features.
        ///
        /// # Safety
        /// As [`super::dispatch`], and the CPU supports the features named in the attribute.
        #[target_feature(enable = $features)]
        pub(super) unsafe fn $run(prob: &Problem<$t>) {
            // SAFETY: forwarded.
            unsafe { blocked::<$t, $kernel, SMALL_PANEL>(prob) }
        }

        /// The blocked product above, for products whose panel needs the large buffer, in its own
        /// stack frame.
        ///
        /// # Safety
        /// As the blocked product above.
        #[target_feature(enable = $features)]
        #[inline(never)]
        unsafe fn $run_large(prob: &Problem<$t>) {
            // SAFETY: forwarded.
            unsafe { blocked::<$t, $kernel, LARGE_PANEL>(prob) }
        }
    };
}

avx2_kernel!(
    "avx2,fma",
    F64x6x8,
    run_f64,
    run_f64_large,
    f64,
    6,
    4,
    __m256d,
    _mm256_setzero_pd,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm256_set1_pd,
    _mm256_fmadd_pd,
    _mm256_add_pd
);
avx2_kernel!(
    "avx2,fma",
    F32x6x16,
    run_f32,
    run_f32_large,
    f32,
    6,
    8,
    __m256,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps
);

// The register tile with 512-bit vectors and 8 rows (8×16 for f64, 8×32 for f32: 16 of the
// 32 vector registers accumulate), for CPUs with AVX-512F: twice the work per instruction,
// and power-of-two batches split into whole tiles.
avx2_kernel!(
    "avx512f,avx2,fma",
    F64x8x16,
    run_f64_avx512,
    run_f64_avx512_large,
    f64,
    8,
    8,
    __m512d,
    _mm512_setzero_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    _mm512_add_pd
);
avx2_kernel!(
    "avx512f,avx2,fma",
    F32x8x32,
    run_f32_avx512,
    run_f32_avx512_large,
    f32,
    8,
    16,
    __m512,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps
);
