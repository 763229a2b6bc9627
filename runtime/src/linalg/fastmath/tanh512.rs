//! tanh for f64 with AVX-512 intrinsics: one `expm1`, one division, no second path.
//!
//! `tanh |x| = m / (m + 2)` with `m = e^{2|x|} − 1`, sign restored. `expm1(y)`, y = 2|x|, is
//! reduced as y = (16k + j)·ln2/16 + r with j = 0..15 and **r ∈ [0, ln2/16)** (floor, so every
//! term below is non-negative and nothing cancels):
//!
//! - `expm1(r)` by a degree-8 Taylor polynomial (truncation r⁸/9! < 4e-17 relative, 0.3 ulp);
//! - `expm1(a_j + r) = T_j·expm1(r) + (T_j − 1)`, with `T_j ≈ 2^{j/16}` from a 16-entry table
//!   held in two registers (`vpermt2pd`, one instruction) and the node `a_j = ln T_j` exactly
//!   (a second table holds `a_j − j·ln2/16`), so `T_j − 1` is exact;
//! - `m = 2^k·e_j + (2^k − 1)`.
//!
//! About 23 vector instructions per 8 elements against ~40 for the two-path version in the
//! parent module (rational approximation below 0.625, `1 − 2/(e^{2|x|}+1)` above, both computed
//! and one selected), within 2 ulp of libm (tested in the parent). NaN propagates; ±∞ → ±1.

use std::arch::x86_64::*;

use super::INV_FACTORIAL;

/// 2^{j/16}, j = 0..15, rounded to f64.
const T: [f64; 16] = [
    1.0,
    1.044_273_782_427_413_8,
    1.090_507_732_665_257_7,
    1.138_788_634_756_691_6,
    1.189_207_115_002_721,
    1.241_857_812_073_484,
    1.296_839_554_651_009_6,
    1.354_255_546_936_892_7,
    std::f64::consts::SQRT_2,
    1.476_826_145_939_499_3,
    1.542_210_825_407_940_7,
    1.610_490_331_949_254_3,
    1.681_792_830_507_429,
    1.756_252_160_373_299_5,
    1.834_008_086_409_342_4,
    1.915_206_561_397_147_4,
];

/// ln(T[j]) − j·ln2/16: how far the exact node of T[j] is from j·ln2/16 (Gal's trick: the
/// reduction subtracts the node whose exponential *is* the rounded table value, so T[j] and
/// T[j] − 1 are exact and only the polynomial and two roundings are left).
const NODE: [f64; 16] = [
    0.0,
    -8.189_317_638_195_514e-17,
    2.793_911_485_951_573_3e-17,
    -7.826_573_258_636_076e-17,
    -3.348_462_333_625_152_4e-17,
    -3.750_854_201_303_127e-17,
    -1.957_258_529_311_203_6e-17,
    -5.686_480_957_911_74e-17,
    6.835_808_657_661_923e-17,
    2.359_109_477_085_005_3e-17,
    -5.154_830_117_078_678_3e-17,
    -1.534_141_005_360_372_3e-17,
    -4.875_160_526_227_062e-17,
    -1.685_487_290_628_973e-17,
    -1.790_126_907_604_513e-17,
    5.545_065_618_639_427_4e-17,
];

const INV_STEP: f64 = 23.083_120_654_223_414; // 16 / ln 2
const STEP_HI: f64 = 0.043_321_698_784_996_58; // ln 2 / 16, rounded
const STEP_LO: f64 = 1.449_404_258_653_937_2e-18; // ln 2 / 16 − STEP_HI
const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52

/// tanh of 8 lanes.
///
/// # Safety
/// The CPU supports AVX-512F and AVX-512DQ.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn tanh8(x: __m512d, tables: &[__m512d; 4]) -> __m512d {
    let sign = _mm512_set1_pd(-0.0);
    let ax = _mm512_andnot_pd(sign, x);
    // min(40, |x|) keeps NaN (the second operand is returned when one is NaN).
    let y = _mm512_min_pd(_mm512_set1_pd(40.0), ax);
    let y = _mm512_add_pd(y, y);
    // n = floor(y·16/ln2) via the 1.5·2^52 rounding trick on y·16/ln2 − 0.5.
    let u = _mm512_fmsub_pd(y, _mm512_set1_pd(INV_STEP), _mm512_set1_pd(0.5));
    let t = _mm512_add_pd(u, _mm512_set1_pd(ROUND));
    let nf = _mm512_sub_pd(t, _mm512_set1_pd(ROUND));
    let r = _mm512_fnmadd_pd(nf, _mm512_set1_pd(STEP_HI), y);
    let r = _mm512_fnmadd_pd(nf, _mm512_set1_pd(STEP_LO), r);
    // The low mantissa bits of t hold n: bits 0..3 pick the table entry, the rest is k.
    let ti = _mm512_castpd_si512(t);
    let tj = _mm512_permutex2var_pd(tables[0], ti, tables[1]);
    let r = _mm512_sub_pd(r, _mm512_permutex2var_pd(tables[2], ti, tables[3]));
    // Exact: T[j] ∈ [1, 2).
    let tm1 = _mm512_sub_pd(tj, _mm512_set1_pd(1.0));
    let n = _mm512_sub_epi64(ti, _mm512_set1_epi64(ROUND.to_bits() as i64));
    let k = _mm512_srai_epi64::<4>(n);
    let scale = _mm512_castsi512_pd(_mm512_slli_epi64::<52>(_mm512_add_epi64(
        k,
        _mm512_set1_epi64(1023),
    )));
    // expm1(r) = r + r²(1/2 + r(1/6 + … + r⁶/8!)).
    let mut p = _mm512_set1_pd(INV_FACTORIAL[8]);
    for &c in INV_FACTORIAL[2..8].iter().rev() {
        p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(c));
    }
    let em_r = _mm512_fmadd_pd(_mm512_mul_pd(p, r), r, r);
    let ej = _mm512_fmadd_pd(tj, em_r, tm1);
    let m = _mm512_fmadd_pd(scale, ej, _mm512_sub_pd(scale, _mm512_set1_pd(1.0)));
    let th = _mm512_div_pd(m, _mm512_add_pd(m, _mm512_set1_pd(2.0)));
    _mm512_or_pd(th, _mm512_and_pd(x, sign))
}

/// `v[i] ← tanh(v[i])`.
///
/// # Safety
/// The CPU supports AVX-512F and AVX-512DQ.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(super) unsafe fn tanh_in_place(v: &mut [f64]) {
    // SAFETY: each load reads 8 elements of a 16-element table.
    let tables = unsafe {
        [
            _mm512_loadu_pd(T.as_ptr()),
            _mm512_loadu_pd(T[8..].as_ptr()),
            _mm512_loadu_pd(NODE.as_ptr()),
            _mm512_loadu_pd(NODE[8..].as_ptr()),
        ]
    };
    let mut chunks = v.chunks_exact_mut(8);
    for c in &mut chunks {
        // SAFETY: 8 elements; the features are enabled.
        unsafe {
            let x = _mm512_loadu_pd(c.as_ptr());
            _mm512_storeu_pd(c.as_mut_ptr(), tanh8(x, &tables));
        }
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let mask: __mmask8 = (1u8 << rest.len()) - 1;
        // SAFETY: the mask covers exactly the remaining elements.
        unsafe {
            let x = _mm512_maskz_loadu_pd(mask, rest.as_ptr());
            _mm512_mask_storeu_pd(rest.as_mut_ptr(), mask, tanh8(x, &tables));
        }
    }
}
