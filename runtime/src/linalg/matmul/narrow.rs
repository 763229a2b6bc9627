//! f64 and f32 products with at most [`MAX_N`] output columns: a network's output layer at a small
//! state dimension (`H·W₂ᵀ`, n = d), its input gradient (`δ·W₀`, n = d) and the first layer's
//! weight gradient (`δᵀ·X`, n = d). The register tiles of the blocked kernel are 16 columns wide
//! (AVX-512), so there these products would run at an eighth of the tile's speed; here the
//! vectors run along the other dimension instead:
//!
//! - `A` row-major (`cs_a = 1`): four rows at a time, each output a dot product along k with one
//!   vector of partial sums per row and column, reduced horizontally at the end; `B` is first
//!   copied column by column, zero-padded to whole vectors, into a stack buffer (k in chunks of
//!   [`MAX_K`] terms);
//! - `A` column-major (`rs_a = 1`, e.g. `δᵀ`): eight (n ≤ 2, AVX-512) or four vectors of rows
//!   at a time, a column of `A` times a broadcast element of `B` read in place, accumulated
//!   along k; leftover vectors and rows go one by one (each element's sum in the same order
//!   whatever the block).
//!
//! The blocked kernels also send here the last `n mod NR ≤ MAX_N` columns of a wider product
//! ([`split_edge`]). Summation orders are fixed for a given shape, so results are
//! deterministic.

use std::mem::MaybeUninit;

use super::Problem;
use crate::real::Real;

/// Most output columns handled here.
pub(super) const MAX_N: usize = 4;
/// Longest k handled (the stack copy of `B` holds `MAX_N · MAX_K` elements).
pub(super) const MAX_K: usize = 512;

/// The stack copy of `B`'s columns, aligned to a cache line for the vector loads.
#[repr(align(64))]
pub(super) struct Columns<T>(pub(super) [MaybeUninit<T>; MAX_N * MAX_K]);

/// Whether the narrow kernels take this product.
pub(super) fn applies<T>(p: &Problem<T>) -> bool {
    p.n <= MAX_N && p.k <= MAX_K && (p.cs_a == 1 || p.rs_a == 1)
}

/// A product with few *rows* (m ≤ MAX_N < n), e.g. the output layer's weight gradient
/// `δᵀ·H` at d = 2, as the narrow product Cᵀ = Bᵀ·Aᵀ, if the kernels take that.
pub(super) fn transposed<T>(p: &Problem<T>) -> Option<Problem<T>> {
    if p.m > MAX_N || p.n <= MAX_N || p.c_transposed {
        return None;
    }
    let t = Problem {
        m: p.n,
        n: p.m,
        k: p.k,
        a: p.b,
        rs_a: p.cs_b,
        cs_a: p.rs_b,
        b: p.a,
        rs_b: p.cs_a,
        cs_b: p.rs_a,
        c: p.c,
        ldc: p.ldc,
        accumulate: p.accumulate,
        c_transposed: true,
        bias: p.bias,
    };
    applies(&t).then_some(t)
}

/// The product's last `n mod nr` columns as a narrow product of their own, and the rest,
/// when there are 1 to [`MAX_N`] of them and `A` has a unit stride: the blocked kernel would
/// run them in a zero-padded `nr`-wide panel, as slow as a full one (conv 7 × 7 forward,
/// `64 × 585 × 49`: the fourth 16-wide panel holds one column). Returns (rest, edge).
pub(super) fn split_edge<T>(p: &Problem<T>, nr: usize) -> Option<(Problem<T>, Problem<T>)> {
    let r = p.n % nr;
    if p.n < nr || r == 0 || r > MAX_N || p.c_transposed || !(p.cs_a == 1 || p.rs_a == 1) {
        return None;
    }
    let j = p.n - r;
    Some((p.columns(0, j), p.columns(j, r)))
}

/// Copies `B`'s columns into `buf`, each contiguous and zero-padded to `kp` elements; returns
/// the initialised part.
///
/// # Safety
/// `p` describes an in-bounds `B` with `n ≤ MAX_N`, `k ≤ kp ≤ MAX_K`.
#[inline(always)]
pub(super) unsafe fn pack_columns<'b, T: Real>(
    p: &Problem<T>,
    kp: usize,
    buf: &'b mut [MaybeUninit<T>; MAX_N * MAX_K],
) -> &'b [T] {
    let dst = buf.as_mut_ptr().cast::<T>();
    // SAFETY: (pp, j) with pp < k, j < n is inside B; j·kp + pp < n·kp ≤ MAX_N·MAX_K.
    unsafe {
        if p.cs_b == 1 {
            // Row-major B (an edge of a wider product): a row's n ≤ 4 elements share a line,
            // so rows outer (one pass over B's lines instead of n).
            for pp in 0..p.k {
                let src = p.b.add(pp * p.rs_b);
                for j in 0..p.n {
                    *dst.add(j * kp + pp) = *src.add(j);
                }
            }
        } else {
            for j in 0..p.n {
                let src = p.b.add(j * p.cs_b);
                for pp in 0..p.k {
                    *dst.add(j * kp + pp) = *src.add(pp * p.rs_b);
                }
            }
        }
        for j in 0..p.n {
            for pp in p.k..kp {
                *dst.add(j * kp + pp) = T::zero();
            }
        }
    }
    // SAFETY: the first n·kp elements were all written above.
    unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<T>(), p.n * kp) }
}

/// Stores `v` into C(i, j), adding the old value when accumulating (or the column's bias);
/// with `p.c_transposed` the
/// product computed is Cᵀ and (i, j) lands at C(j, i).
///
/// # Safety
/// (i, j) is inside C (or Cᵀ).
#[inline(always)]
pub(super) unsafe fn put<T: Real>(p: &Problem<T>, i: usize, j: usize, v: T) {
    let (at, col) = if p.c_transposed {
        (j * p.ldc + i, i)
    } else {
        (i * p.ldc + j, j)
    };
    // SAFETY: forwarded; a bias has an element for every column of C.
    unsafe {
        let c = p.c.add(at);
        *c = if p.accumulate {
            *c + v
        } else if !p.bias.is_null() {
            *p.bias.add(col) + v
        } else {
            v
        };
    }
}

/// Horizontal sums in registers, in the fixed order `lanes[l] += lanes[l + half]` for halves
/// of the width down to one (the order of the scalar loop they replace, so the same bits).
mod hsum {
    use std::arch::x86_64::*;

    /// Four f64 lanes.
    ///
    /// # Safety
    /// The CPU has AVX.
    #[inline(always)]
    pub(super) unsafe fn pd256(v: __m256d) -> f64 {
        // SAFETY: forwarded.
        unsafe {
            let x = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
            _mm_cvtsd_f64(_mm_add_sd(x, _mm_unpackhi_pd(x, x)))
        }
    }

    /// Eight f64 lanes.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[inline(always)]
    pub(super) unsafe fn pd512(v: __m512d) -> f64 {
        // SAFETY: forwarded.
        unsafe {
            pd256(_mm256_add_pd(
                _mm512_castpd512_pd256(v),
                _mm512_extractf64x4_pd::<1>(v),
            ))
        }
    }

    /// Eight f32 lanes.
    ///
    /// # Safety
    /// The CPU has AVX.
    #[inline(always)]
    pub(super) unsafe fn ps256(v: __m256) -> f32 {
        // SAFETY: forwarded.
        unsafe {
            let x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let y = _mm_add_ps(x, _mm_movehl_ps(x, x));
            _mm_cvtss_f32(_mm_add_ss(y, _mm_shuffle_ps::<1>(y, y)))
        }
    }

    /// Sixteen f32 lanes.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[inline(always)]
    pub(super) unsafe fn ps512(v: __m512) -> f32 {
        // SAFETY: forwarded.
        unsafe {
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
            ps256(_mm256_add_ps(_mm512_castps512_ps256(v), hi))
        }
    }
}

/// The kernels for one vector width, written with intrinsics (`$w` lanes of `$t`).
macro_rules! narrow {
    ($features:literal, $name:ident, $t:ty, $w:expr, $regs:expr, $vec:ty, $zero:ident, $load:ident,
     $set1:ident, $fma:ident, $store:ident, $hsum:path) => {
        /// `C (+)= A·B` for a product that [`applies`], with `$w`-lane vectors.
        ///
        /// # Safety
        /// As `matmul::dispatch`, `applies(p)` holds, and the CPU supports the features.
        #[target_feature(enable = $features)]
        pub(super) unsafe fn $name(p: &Problem<$t>) {
            use std::arch::x86_64::*;
            const W: usize = $w;
            if p.cs_a != 1 {
                // SAFETY: forwarded; the match arms fix N = n. (B is read in place: the
                // column kernels broadcast its elements, any k.)
                unsafe {
                    match p.n {
                        1 => cols::<1>(p),
                        2 => cols::<2>(p),
                        3 => cols::<3>(p),
                        _ => cols::<4>(p),
                    }
                }
                return;
            }
            if p.k > MAX_K {
                // K in chunks of MAX_K terms (the stack copy of B), the first overwriting C
                // (or adding the bias) unless accumulating, the others adding.
                let mut p0 = 0;
                while p0 < p.k {
                    let kc = MAX_K.min(p.k - p0);
                    // SAFETY: forwarded; the chunk lies inside the product, k ≤ MAX_K.
                    unsafe { $name(&p.k_chunk(p0, kc)) };
                    p0 += kc;
                }
                return;
            }
            let kp = p.k.div_ceil(W) * W;
            let mut buf = Columns([const { MaybeUninit::<$t>::uninit() }; MAX_N * MAX_K]);
            // SAFETY: n ≤ MAX_N, k ≤ kp ≤ MAX_K (MAX_K is a multiple of W).
            let bcol = unsafe { pack_columns(p, kp, &mut buf.0) };
            // SAFETY: forwarded; the match arms fix N = n.
            unsafe {
                match p.n {
                    1 => rows::<1>(p, bcol, kp),
                    2 => rows::<2>(p, bcol, kp),
                    3 => rows::<3>(p, bcol, kp),
                    _ => rows::<4>(p, bcol, kp),
                }
            }

            /// `A` row-major: four rows × N columns of dot products along k.
            #[inline(always)]
            unsafe fn rows<const N: usize>(p: &Problem<$t>, bcol: &[$t], kp: usize) {
                const R: usize = 4;
                let full = p.k / W * W;
                let b = bcol.as_ptr();
                let mut i0 = 0;
                while i0 < p.m {
                    let rows = R.min(p.m - i0);
                    // Rows past the edge repeat the last row; their results are dropped.
                    // SAFETY: min(r, rows − 1) < rows valid rows.
                    let a: [*const $t; R] = std::array::from_fn(|r| unsafe {
                        p.a.add((i0 + r.min(rows - 1)) * p.rs_a)
                    });
                    // SAFETY: row reads stay below column k, panel reads below n·kp.
                    unsafe {
                        let mut acc = [[$zero(); N]; R];
                        let mut pp = 0;
                        while pp < full {
                            for r in 0..R {
                                let av = $load(a[r].add(pp));
                                for j in 0..N {
                                    acc[r][j] = $fma(av, $load(b.add(j * kp + pp)), acc[r][j]);
                                }
                            }
                            pp += W;
                        }
                        if full < p.k {
                            for r in 0..R {
                                let mut tail = [0.0 as $t; W];
                                for (l, t) in tail.iter_mut().enumerate().take(p.k - full) {
                                    *t = *a[r].add(full + l);
                                }
                                let av = $load(tail.as_ptr());
                                for j in 0..N {
                                    acc[r][j] = $fma(av, $load(b.add(j * kp + full)), acc[r][j]);
                                }
                            }
                        }
                        // A constant-bound loop with a guard (not `0..rows`): every `acc`
                        // index is then a constant and the accumulators stay in registers
                        // (with `0..rows` they were stored to the stack every term: 64 × 512 × 4
                        // at 19 GFLOP/s).
                        for r in 0..R {
                            if r < rows {
                                for j in 0..N {
                                    put(p, i0 + r, j, $hsum(acc[r][j]));
                                }
                            }
                        }
                    }
                    i0 += R;
                }
            }

            /// `A` column-major: blocks of `V` vectors of rows × N columns, accumulated along
            /// k (eight vectors for N ≤ 2 with 32 registers, so that a row-major `Aᵀ` of 64 columns is read a
            /// whole row per term, one sequential stream; then four), then single vectors and
            /// single rows.
            #[inline(always)]
            unsafe fn cols<const N: usize>(p: &Problem<$t>) {
                let mut i0 = 0;
                // SAFETY: forwarded; every block stays below row m.
                unsafe {
                    // Eight vectors only where 8·N accumulators leave half the vector
                    // registers free ($regs: 32 with AVX-512; AVX2's 16 would spill).
                    if 8 * N <= $regs / 2 {
                        while i0 + 8 * W <= p.m {
                            col_block::<N, 8>(p, i0);
                            i0 += 8 * W;
                        }
                    }
                    while i0 + 4 * W <= p.m {
                        col_block::<N, 4>(p, i0);
                        i0 += 4 * W;
                    }
                    col_rest::<N>(p, i0);
                }
            }

            /// Rows `i0..i0 + V·W` of a column-major `A` × N columns.
            ///
            /// # Safety
            /// `i0 + V·W ≤ m`.
            #[inline(always)]
            unsafe fn col_block<const N: usize, const V: usize>(p: &Problem<$t>, i0: usize) {
                // SAFETY: column reads cover rows i0..i0 + V·W ≤ m; B reads are inside B.
                unsafe {
                    let mut acc = [[$zero(); N]; V];
                    for pp in 0..p.k {
                        let col = p.a.add(i0 + pp * p.cs_a);
                        for j in 0..N {
                            let bj = $set1(*p.b.add(pp * p.rs_b + j * p.cs_b));
                            for v in 0..V {
                                acc[v][j] = $fma($load(col.add(v * W)), bj, acc[v][j]);
                            }
                        }
                    }
                    for v in 0..V {
                        for j in 0..N {
                            let mut lanes = [0.0 as $t; W];
                            $store(lanes.as_mut_ptr(), acc[v][j]);
                            for (l, &x) in lanes.iter().enumerate() {
                                put(p, i0 + v * W + l, j, x);
                            }
                        }
                    }
                }
            }

            /// Rows `i0..m` of a column-major `A` (fewer than four vectors): single vectors,
            /// then single rows.
            ///
            /// # Safety
            /// `i0 ≤ m`.
            #[inline(always)]
            unsafe fn col_rest<const N: usize>(p: &Problem<$t>, mut i0: usize) {
                // SAFETY: column reads cover rows below m; B reads are inside B.
                unsafe {
                    while i0 + W <= p.m {
                        let mut acc = [$zero(); N];
                        for pp in 0..p.k {
                            let av = $load(p.a.add(i0 + pp * p.cs_a));
                            for j in 0..N {
                                acc[j] =
                                    $fma(av, $set1(*p.b.add(pp * p.rs_b + j * p.cs_b)), acc[j]);
                            }
                        }
                        for j in 0..N {
                            let mut lanes = [0.0 as $t; W];
                            $store(lanes.as_mut_ptr(), acc[j]);
                            for (l, &x) in lanes.iter().enumerate() {
                                put(p, i0 + l, j, x);
                            }
                        }
                        i0 += W;
                    }
                    for i in i0..p.m {
                        for j in 0..N {
                            let mut s: $t = 0.0;
                            for pp in 0..p.k {
                                s = (*p.a.add(i + pp * p.cs_a))
                                    .mul_add(*p.b.add(pp * p.rs_b + j * p.cs_b), s);
                            }
                            put(p, i, j, s);
                        }
                    }
                }
            }
        }
    };
}

narrow!(
    "avx2,fma",
    run_avx2,
    f64,
    4,
    16,
    __m256d,
    _mm256_setzero_pd,
    _mm256_loadu_pd,
    _mm256_set1_pd,
    _mm256_fmadd_pd,
    _mm256_storeu_pd,
    hsum::pd256
);
narrow!(
    "avx512f,avx2,fma",
    run_avx512,
    f64,
    8,
    32,
    __m512d,
    _mm512_setzero_pd,
    _mm512_loadu_pd,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    _mm512_storeu_pd,
    hsum::pd512
);
narrow!(
    "avx2,fma",
    run_avx2_f32,
    f32,
    8,
    16,
    __m256,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps,
    hsum::ps256
);
narrow!(
    "avx512f,avx2,fma",
    run_avx512_f32,
    f32,
    16,
    32,
    __m512,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps,
    hsum::ps512
);
