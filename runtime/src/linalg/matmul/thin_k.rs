//! f64 and f32 products with a thin inner dimension (k ≤ [`MAX_K`]) on AVX-512 and AVX2: a network's
//! first layer at a small state dimension (`X·W₀ᵀ`, k = d) and the input gradient of its output
//! layer (`λ·W_L`, k = d). The blocked kernels pack `B` and run an 8 × 16 tile whose k loop has
//! one or two terms, so there the product is all tile setup and packing (23 GFLOP/s at
//! `256 × 2 × 64` on a Zen 4 core whose peak is 58). Here the k × 2 vectors of `B` for a band
//! of two vectors' worth of columns stay in registers (with the bias), and every row of `C`
//! costs k broadcasts, 2k multiply–adds and two stores.
//!
//! Each element is summed exactly as the blocked kernel sums it (a multiply–add chain from
//! zero along k, then added to `C` or to the bias, or stored), so which kernel runs never
//! changes a bit: a product gives the same result whatever its number of rows or columns.

use std::arch::x86_64::*;

use super::Problem;

/// Longest k handled.
pub(super) const MAX_K: usize = 4;

/// Whether these kernels take this product: a thin k, at least one full vector of `lanes`
/// columns, and `C` stored row by row.
pub(super) fn applies<T>(p: &Problem<T>, lanes: usize) -> bool {
    p.k <= MAX_K && p.n >= lanes && !p.c_transposed
}

macro_rules! thin_k_kernel {
    ($run:ident, $t:ty, $lanes:expr, $mask:ty, $bits:ty, $zero:ident, $set1:ident,
     $load:ident, $store:ident, $fma:ident, $add:ident) => {
        /// `C (+)= A·B (+ bias)` for a product [`applies`] accepts, two vectors of columns at a
        /// time.
        ///
        /// # Safety
        /// As `super::dispatch`; the CPU supports AVX-512F; `p.k ≤ MAX_K`.
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        pub(super) unsafe fn $run(p: &Problem<$t>) {
            const L: usize = $lanes;
            let mask = |n: usize| -> $mask { ((1 as $bits) << n.min(L)).wrapping_sub(1) as $mask };
            let (k, with_bias) = (p.k, !p.accumulate && !p.bias.is_null());
            let mut j0 = 0;
            while j0 < p.n {
                let w = (p.n - j0).min(2 * L);
                // The lanes of the band's two vectors that hold columns.
                let masks = [mask(w), mask(w.saturating_sub(L))];
                // SAFETY (whole block): every access lies inside the views `dispatch` checked:
                // rows < m, columns j0 + lane < n (the masks), terms < k ≤ MAX_K. A pointer to
                // a second vector past the last column is formed with `wrapping_add` and only
                // used under an all-zero mask, which reads and writes nothing.
                unsafe {
                    let mut b = [[$zero(); 2]; MAX_K];
                    for (kk, bk) in b.iter_mut().enumerate().take(k) {
                        let row = p.b.add(kk * p.rs_b + j0 * p.cs_b);
                        for (v, bv) in bk.iter_mut().enumerate() {
                            *bv = if p.cs_b == 1 {
                                $load(masks[v], row.wrapping_add(v * L))
                            } else {
                                // A strided row of B: copied once per band (k × 2 vectors).
                                let mut tmp = [0.0 as $t; L];
                                for (l, x) in tmp.iter_mut().enumerate() {
                                    if masks[v] >> l & 1 == 1 {
                                        *x = *row.wrapping_add((v * L + l) * p.cs_b);
                                    }
                                }
                                $load(masks[v], tmp.as_ptr())
                            };
                        }
                    }
                    let bias = if with_bias {
                        [
                            $load(masks[0], p.bias.add(j0)),
                            $load(masks[1], p.bias.wrapping_add(j0 + L)),
                        ]
                    } else {
                        [$zero(); 2]
                    };
                    for i in 0..p.m {
                        let a = p.a.add(i * p.rs_a);
                        let mut acc = [$zero(); 2];
                        for (kk, bk) in b.iter().enumerate().take(k) {
                            let ai = $set1(*a.add(kk * p.cs_a));
                            acc[0] = $fma(ai, bk[0], acc[0]);
                            acc[1] = $fma(ai, bk[1], acc[1]);
                        }
                        let c = p.c.add(i * p.ldc + j0);
                        for v in 0..2 {
                            let cv = c.wrapping_add(v * L);
                            let out = if p.accumulate {
                                $add($load(masks[v], cv), acc[v])
                            } else if with_bias {
                                $add(bias[v], acc[v])
                            } else {
                                acc[v]
                            };
                            $store(cv, masks[v], out);
                        }
                    }
                }
                j0 += w;
            }
        }
    };
}

thin_k_kernel!(
    run_avx512,
    f64,
    8,
    __mmask8,
    u16,
    _mm512_setzero_pd,
    _mm512_set1_pd,
    _mm512_maskz_loadu_pd,
    _mm512_mask_storeu_pd,
    _mm512_fmadd_pd,
    _mm512_add_pd
);

thin_k_kernel!(
    run_avx512_f32,
    f32,
    16,
    __mmask16,
    u32,
    _mm512_setzero_ps,
    _mm512_set1_ps,
    _mm512_maskz_loadu_ps,
    _mm512_mask_storeu_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps
);

/// Vectors of columns per chunk of the AVX2 kernels (B's chunk, k × this many vectors, is
/// copied to the stack once per chunk).
const AVX2_CHUNK_VECTORS: usize = 16;

/// How the AVX2 kernels finish a row of `C` (their `MODE` parameter): the sums added to the
/// old `C`, added to the bias, or stored as they are.
const ACCUMULATE: u8 = 0;
/// See [`ACCUMULATE`].
const BIAS: u8 = 1;
/// See [`ACCUMULATE`].
const STORE: u8 = 2;

macro_rules! thin_k_kernel_avx2 {
    ($run:ident, $rows:ident, $t:ty, $lanes:expr, $vec:ty, $zero:ident, $set1:ident, $loadu:ident,
     $storeu:ident, $maskload:ident, $maskstore:ident, $fma:ident, $add:ident, $lane_mask:expr) => {
        /// `C (+)= A·B (+ bias)` for a product [`applies`] accepts, on AVX2: the same sums as
        /// the AVX-512 kernel above, in row order instead of column bands. With 16 registers a
        /// band of `B` in registers is only two 4-double vectors wide, and sweeping all rows
        /// per 8 columns wrote `C` in 64-byte pieces a row apart (slower than the blocked
        /// kernel at `256 × 2 × 64`); here a chunk of `B` (k × up to 16 vectors) sits in an
        /// L1-resident stack copy and each row of `C` is written front to back. The loops are
        /// compiled once per k and per way of finishing a row ([`ACCUMULATE`] …), so the k terms of a
        /// vector are straight-line code and the row loop has no branch but its own: with k
        /// and the mode read at run time, the branches on them took most of a batch-16
        /// product's time.
        ///
        /// # Safety
        /// As `super::dispatch`; the CPU supports AVX2 and FMA; `p.k ≤ MAX_K`.
        #[target_feature(enable = "avx2,fma")]
        pub(super) unsafe fn $run(p: &Problem<$t>) {
            let mode = if p.accumulate {
                ACCUMULATE
            } else if !p.bias.is_null() {
                BIAS
            } else {
                STORE
            };
            macro_rules! by_k {
                ($f:expr) => {
                    // SAFETY: forwarded; `K = p.k`.
                    unsafe {
                        match p.k {
                            1 => $rows::<1, { $f }>(p),
                            2 => $rows::<2, { $f }>(p),
                            3 => $rows::<3, { $f }>(p),
                            4 => $rows::<4, { $f }>(p),
                            _ => unreachable!("a thin-k product has 1 ≤ k ≤ MAX_K"),
                        }
                    }
                };
            }
            match mode {
                ACCUMULATE => by_k!(ACCUMULATE),
                BIAS => by_k!(BIAS),
                _ => by_k!(STORE),
            }
        }

        /// The kernel above for `K = p.k` and the way `MODE` of finishing a row.
        ///
        /// # Safety
        /// As the kernel above, with `K = p.k` and `MODE` as `p.accumulate` and `p.bias` say.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn $rows<const K: usize, const MODE: u8>(p: &Problem<$t>) {
            const L: usize = $lanes;
            const CHUNK: usize = AVX2_CHUNK_VECTORS * L;
            let mut b = [[0.0 as $t; CHUNK]; K];
            let mut bias = [0.0 as $t; CHUNK];
            let mut j0 = 0;
            while j0 < p.n {
                let w = (p.n - j0).min(CHUNK);
                let (full, tail) = (w / L, w % L);
                let tail_mask = $lane_mask(tail);
                // SAFETY (whole block): every access lies inside the views `dispatch` checked
                // (rows < m, columns j0 + c < n: whole vectors for c < full·L, the lane mask
                // for the tail, terms < K = k) or inside the stack copies.
                unsafe {
                    for (kk, bk) in b.iter_mut().enumerate() {
                        let row = p.b.add(kk * p.rs_b + j0 * p.cs_b);
                        for (c, x) in bk.iter_mut().enumerate().take(w) {
                            *x = *row.add(c * p.cs_b);
                        }
                    }
                    if MODE == BIAS {
                        for (c, x) in bias.iter_mut().enumerate().take(w) {
                            *x = *p.bias.add(j0 + c);
                        }
                    }
                    for i in 0..p.m {
                        let a = p.a.add(i * p.rs_a);
                        let mut ai = [$zero(); K];
                        for (kk, x) in ai.iter_mut().enumerate() {
                            *x = $set1(*a.add(kk * p.cs_a));
                        }
                        let c = p.c.add(i * p.ldc + j0);
                        // The vector of columns at offset `v·L`, summed in the blocked
                        // kernel's order: a multiply–add chain from zero along k, then `C`
                        // or the bias added.
                        let sum = |v: usize| {
                            let mut acc = $zero();
                            for (kk, bk) in b.iter().enumerate() {
                                acc = $fma(ai[kk], $loadu(bk.as_ptr().add(v * L)), acc);
                            }
                            if MODE == BIAS {
                                $add($loadu(bias.as_ptr().add(v * L)), acc)
                            } else {
                                acc
                            }
                        };
                        for v in 0..full {
                            let cv = c.add(v * L);
                            let out = sum(v);
                            let out = if MODE == ACCUMULATE {
                                $add($loadu(cv), out)
                            } else {
                                out
                            };
                            $storeu(cv, out);
                        }
                        if tail > 0 {
                            let cv = c.add(full * L);
                            let out = sum(full);
                            let out = if MODE == ACCUMULATE {
                                $add($maskload(cv, tail_mask), out)
                            } else {
                                out
                            };
                            $maskstore(cv, tail_mask, out);
                        }
                    }
                }
                j0 += w;
            }
        }
    };
}

/// AVX2 lane mask of 64-bit lanes: all ones in the first `n` of 4.
#[inline]
#[target_feature(enable = "avx2")]
fn lanes64(n: usize) -> __m256i {
    _mm256_cmpgt_epi64(_mm256_set1_epi64x(n as i64), _mm256_setr_epi64x(0, 1, 2, 3))
}

/// AVX2 lane mask of 32-bit lanes: all ones in the first `n` of 8.
#[inline]
#[target_feature(enable = "avx2")]
fn lanes32(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(n as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

thin_k_kernel_avx2!(
    run_avx2,
    rows_avx2,
    f64,
    4,
    __m256d,
    _mm256_setzero_pd,
    _mm256_set1_pd,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm256_maskload_pd,
    _mm256_maskstore_pd,
    _mm256_fmadd_pd,
    _mm256_add_pd,
    lanes64
);

thin_k_kernel_avx2!(
    run_avx2_f32,
    rows_avx2_f32,
    f32,
    8,
    __m256,
    _mm256_setzero_ps,
    _mm256_set1_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_maskload_ps,
    _mm256_maskstore_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps,
    lanes32
);
