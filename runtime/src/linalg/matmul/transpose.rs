//! Packing a column-major `B` (`rs_b = 1`: a transposed view such as `colsᵀ` in a convolution's
//! weight gradient, or `Wᵀ` read from `W`) into the kernels' row-major panels with 4 × 4
//! register transposes: four column loads, eight shuffles and four row stores per 16 elements
//! instead of one scalar load and store per element (the pack cost 7–13% of a conv weight
//! gradient, `64 × 784 × 585`, whose 64 rows use each panel only 8 times). Moves data only.

use std::arch::x86_64::*;

use super::{Problem, pack_panel};
use crate::real::Real;

/// A 4 × 4 transpose of the element type, in registers.
pub(super) trait Transpose4: Real {
    /// Writes `dst[s·dld + q] = src[q·ld + s]` for `q, s < 4`.
    ///
    /// # Safety
    /// Both blocks are in bounds; the CPU has AVX (inlined into [`pack_transposed`], which
    /// enables it).
    unsafe fn t4(src: *const Self, ld: usize, dst: *mut Self, dld: usize);
}

impl Transpose4 for f64 {
    #[inline(always)]
    unsafe fn t4(src: *const f64, ld: usize, dst: *mut f64, dld: usize) {
        // SAFETY: forwarded.
        unsafe {
            let r0 = _mm256_loadu_pd(src);
            let r1 = _mm256_loadu_pd(src.add(ld));
            let r2 = _mm256_loadu_pd(src.add(2 * ld));
            let r3 = _mm256_loadu_pd(src.add(3 * ld));
            let t0 = _mm256_unpacklo_pd(r0, r1);
            let t1 = _mm256_unpackhi_pd(r0, r1);
            let t2 = _mm256_unpacklo_pd(r2, r3);
            let t3 = _mm256_unpackhi_pd(r2, r3);
            _mm256_storeu_pd(dst, _mm256_permute2f128_pd::<0x20>(t0, t2));
            _mm256_storeu_pd(dst.add(dld), _mm256_permute2f128_pd::<0x20>(t1, t3));
            _mm256_storeu_pd(dst.add(2 * dld), _mm256_permute2f128_pd::<0x31>(t0, t2));
            _mm256_storeu_pd(dst.add(3 * dld), _mm256_permute2f128_pd::<0x31>(t1, t3));
        }
    }
}

impl Transpose4 for f32 {
    #[inline(always)]
    unsafe fn t4(src: *const f32, ld: usize, dst: *mut f32, dld: usize) {
        // SAFETY: forwarded.
        unsafe {
            let r0 = _mm_loadu_ps(src);
            let r1 = _mm_loadu_ps(src.add(ld));
            let r2 = _mm_loadu_ps(src.add(2 * ld));
            let r3 = _mm_loadu_ps(src.add(3 * ld));
            let t0 = _mm_unpacklo_ps(r0, r1);
            let t1 = _mm_unpacklo_ps(r2, r3);
            let t2 = _mm_unpackhi_ps(r0, r1);
            let t3 = _mm_unpackhi_ps(r2, r3);
            _mm_storeu_ps(dst, _mm_movelh_ps(t0, t1));
            _mm_storeu_ps(dst.add(dld), _mm_movehl_ps(t1, t0));
            _mm_storeu_ps(dst.add(2 * dld), _mm_movelh_ps(t2, t3));
            _mm_storeu_ps(dst.add(3 * dld), _mm_movehl_ps(t3, t2));
        }
    }
}

/// [`pack_panel`], with a column-major `B` transposed 4 × 4 blocks at a time (the leftover
/// rows and columns, and every other layout, as there).
///
/// # Safety
/// As [`pack_panel`], and the CPU has AVX.
#[inline(always)]
pub(super) unsafe fn pack_b<T: Transpose4>(
    p: &Problem<T>,
    p0: usize,
    kc: usize,
    j0: usize,
    nr: usize,
    nr_full: usize,
    panel: *mut T,
) {
    if p.cs_b == 1 || p.rs_b != 1 {
        // SAFETY: forwarded.
        return unsafe { pack_panel(p, p0, kc, j0, nr, nr_full, panel) };
    }
    // SAFETY: forwarded; rs_b = 1.
    unsafe { pack_transposed(p, p0, kc, j0, nr, nr_full, panel) }
}

/// The transposing loop of [`pack_b`], out of line: it stays out of the small products'
/// function, whose size costs them (their `B` is row-major).
///
/// # Safety
/// As [`pack_b`], with `rs_b = 1`.
#[target_feature(enable = "avx")]
#[inline(never)]
unsafe fn pack_transposed<T: Transpose4>(
    p: &Problem<T>,
    p0: usize,
    kc: usize,
    j0: usize,
    nr: usize,
    nr_full: usize,
    panel: *mut T,
) {
    let ld = p.cs_b;
    let (kc4, nr4) = (kc / 4 * 4, nr / 4 * 4);
    // SAFETY: every source index is (p0 + pp) + (j0 + j)·ld with pp < kc, j < nr: inside B;
    // every destination index pp·nr_full + j with j < nr_full: inside the panel.
    unsafe {
        let base = p.b.add(p0 + j0 * ld);
        let mut j = 0;
        while j < nr4 {
            let mut pp = 0;
            while pp < kc4 {
                T::t4(
                    base.add(pp + j * ld),
                    ld,
                    panel.add(pp * nr_full + j),
                    nr_full,
                );
                pp += 4;
            }
            for pp in kc4..kc {
                for q in j..j + 4 {
                    *panel.add(pp * nr_full + q) = *base.add(pp + q * ld);
                }
            }
            j += 4;
        }
        for j in nr4..nr {
            for pp in 0..kc {
                *panel.add(pp * nr_full + j) = *base.add(pp + j * ld);
            }
        }
        if nr < nr_full {
            for pp in 0..kc {
                for j in nr..nr_full {
                    *panel.add(pp * nr_full + j) = T::zero();
                }
            }
        }
    }
}
