//! tanh for f64 with AVX-512 intrinsics: one `expm1`, one division, no second path.
//!
//! `tanh |x| = m / (m + 2)` with `m = e^{2|x|} − 1`, sign restored. `expm1(y)`, y = 2|x|, is
//! reduced as y = (16k + j)·ln2/16 + r with j = 0..15 and **r ∈ [0, ln2/16)** (floor, so every
//! term below is non-negative and nothing cancels):
//!
//! - `expm1(r) = r + r²·q(r)` with q the degree-5 near-minimax (Chebyshev) fit of
//!   `(expm1(r) − r)/r²` on [−0.0005, 0.0437] (`scripts/tanh_minimax.py`; 5e-18 relative, a
//!   twentieth of an ulp, one multiply–add fewer than the degree-6 Taylor polynomial);
//! - `expm1(a_j + r) = T_j·expm1(r) + (T_j − 1)`, with `T_j ≈ 2^{j/16}` from a 16-entry table
//!   held in two registers (`vpermt2pd`, one instruction) and the node `a_j = ln T_j` exactly
//!   (a second table holds `a_j − j·ln2/16`), so `T_j − 1` is exact (a third table);
//! - `m = 2^k·e_j + (2^k − 1)`.
//!
//! The reduction works on h = |x| = y/2 with every constant scaled by a power of two (exact):
//! r/2 is reduced, the polynomial takes r/2 with its coefficients scaled, and the table holds
//! 2·T_j, so y = 2|x| is never formed. 2^k is built from the rounding trick's bits with three
//! integer operations. Two vectors are computed interleaved. About 27 vector instructions per 8
//! elements against ~40 for the two-path version in the parent module (rational approximation
//! below 0.625, `1 − 2/(e^{2|x|}+1)` above, both computed and one selected), within 3 ulp of
//! libm (tested in the parent). NaN propagates; ±∞ → ±1.

use std::arch::x86_64::*;

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

/// q(r) ≈ (expm1(r) − r)/r², lowest degree first: `scripts/tanh_minimax.py`.
const Q: [f64; 6] = [
    0.5,
    0.166_666_666_666_779_26,
    0.041_666_666_632_748_636,
    0.008_333_336_808_318_556,
    0.001_388_731_616_998_152_5,
    0.000_201_656_194_433_946_9,
];

/// `a·v + b` for each entry of a table (exact for the scalings and the `T − 1` used here).
const fn affine_table(v: [f64; 16], a: f64, b: f64) -> [f64; 16] {
    let mut o = [0.0; 16];
    let mut i = 0;
    while i < 16 {
        o[i] = a * v[i] + b;
        i += 1;
    }
    o
}

/// 2·T[j]: the polynomial gives expm1(r)/2.
const TWICE_T: [f64; 16] = affine_table(T, 2.0, 0.0);
/// NODE[j]/2: the reduction works on r/2.
const HALF_NODE: [f64; 16] = affine_table(NODE, 0.5, 0.0);
/// T[j] − 1, exact since T[j] ∈ [1, 2).
const T_MINUS_1: [f64; 16] = affine_table(T, 1.0, -1.0);

/// The six table registers: 2·T (two halves), NODE/2, T − 1.
type Tables = [__m512d; 6];

/// tanh of `L` vectors of 8 lanes, each step applied to all `L` before the next: two
/// independent chains interleaved keep the out-of-order core fed (4–5% faster than one
/// vector at a time here; the compiler does not interleave two calls by itself).
///
/// # Safety
/// The CPU supports AVX-512F and AVX-512DQ.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn tanh_vectors<const L: usize>(x: [__m512d; L], tables: &Tables) -> [__m512d; L] {
    let sign = _mm512_set1_pd(-0.0);
    // h = min(20, |x|) = y/2 keeps NaN (the second operand is returned when one is NaN).
    let h = x.map(|x| _mm512_min_pd(_mm512_set1_pd(20.0), _mm512_andnot_pd(sign, x)));
    // n = floor(y·16/ln2) via the 1.5·2^52 rounding trick on h·32/ln2 − 0.5.
    let t = h.map(|h| {
        let u = _mm512_fmsub_pd(h, _mm512_set1_pd(2.0 * INV_STEP), _mm512_set1_pd(0.5));
        _mm512_add_pd(u, _mm512_set1_pd(ROUND))
    });
    let nf = t.map(|t| _mm512_sub_pd(t, _mm512_set1_pd(ROUND)));
    // The low mantissa bits of t hold n: bits 0..3 pick the table entry, the rest is k.
    let ti = t.map(|t| _mm512_castpd_si512(t));
    // rh = r/2 = h − n·ln2/32 − (a_j − j·ln2/16)/2.
    let mut rh = [_mm512_setzero_pd(); L];
    for i in 0..L {
        rh[i] = _mm512_fnmadd_pd(nf[i], _mm512_set1_pd(0.5 * STEP_HI), h[i]);
    }
    for i in 0..L {
        rh[i] = _mm512_fnmadd_pd(nf[i], _mm512_set1_pd(0.5 * STEP_LO), rh[i]);
    }
    for i in 0..L {
        let half_node = _mm512_permutex2var_pd(tables[2], ti[i], tables[3]);
        rh[i] = _mm512_sub_pd(rh[i], half_node);
    }
    let t2 = ti.map(|ti| _mm512_permutex2var_pd(tables[0], ti, tables[1]));
    let tm1 = ti.map(|ti| _mm512_permutex2var_pd(tables[4], ti, tables[5]));
    // (n + 16·1023) >> 4 = k + 1023, the biased exponent of 2^k.
    let bias = _mm512_set1_epi64(16 * 1023 - ROUND.to_bits() as i64);
    let scale = ti.map(|ti| {
        let kb = _mm512_srai_epi64::<4>(_mm512_add_epi64(ti, bias));
        _mm512_castsi512_pd(_mm512_slli_epi64::<52>(kb))
    });
    // expm1(r)/2 = rh + rh²·2q(2rh); 2q(2rh) has the coefficients 2^{j+1}·q_j.
    let mut p = [_mm512_set1_pd(Q[5] * 64.0); L];
    for (j, &c) in Q[..5].iter().enumerate().rev() {
        let c = _mm512_set1_pd(c * f64::from(2u32 << j));
        for i in 0..L {
            p[i] = _mm512_fmadd_pd(p[i], rh[i], c);
        }
    }
    let mut m = [_mm512_setzero_pd(); L];
    for i in 0..L {
        let em_half = _mm512_fmadd_pd(_mm512_mul_pd(p[i], rh[i]), rh[i], rh[i]);
        // e_j = 2T_j·expm1(r)/2 + (T_j − 1), T_j − 1 exact.
        let ej = _mm512_fmadd_pd(t2[i], em_half, tm1[i]);
        let scale_m1 = _mm512_sub_pd(scale[i], _mm512_set1_pd(1.0));
        m[i] = _mm512_fmadd_pd(scale[i], ej, scale_m1);
    }
    let mut th = [_mm512_setzero_pd(); L];
    for i in 0..L {
        let q = _mm512_div_pd(m[i], _mm512_add_pd(m[i], _mm512_set1_pd(2.0)));
        th[i] = _mm512_or_pd(q, _mm512_and_pd(x[i], sign));
    }
    th
}

/// `v[i] ← tanh(v[i])`.
///
/// # Safety
/// The CPU supports AVX-512F and AVX-512DQ.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(super) unsafe fn tanh_in_place(v: &mut [f64]) {
    // SAFETY: each load reads 8 elements of a 16-element array.
    let tables: Tables = unsafe {
        [
            _mm512_loadu_pd(TWICE_T.as_ptr()),
            _mm512_loadu_pd(TWICE_T[8..].as_ptr()),
            _mm512_loadu_pd(HALF_NODE.as_ptr()),
            _mm512_loadu_pd(HALF_NODE[8..].as_ptr()),
            _mm512_loadu_pd(T_MINUS_1.as_ptr()),
            _mm512_loadu_pd(T_MINUS_1[8..].as_ptr()),
        ]
    };
    let mut pairs = v.chunks_exact_mut(16);
    for c in &mut pairs {
        // SAFETY: 16 elements; the features are enabled.
        unsafe {
            let x = [
                _mm512_loadu_pd(c.as_ptr()),
                _mm512_loadu_pd(c.as_ptr().add(8)),
            ];
            let [y0, y1] = tanh_vectors(x, &tables);
            _mm512_storeu_pd(c.as_mut_ptr(), y0);
            _mm512_storeu_pd(c.as_mut_ptr().add(8), y1);
        }
    }
    for rest in pairs.into_remainder().chunks_mut(8) {
        let mask: __mmask8 = (1u16 << rest.len()).wrapping_sub(1) as u8;
        // SAFETY: the mask covers exactly the remaining elements (at most 8).
        unsafe {
            let x = _mm512_maskz_loadu_pd(mask, rest.as_ptr());
            let [y] = tanh_vectors([x], &tables);
            _mm512_mask_storeu_pd(rest.as_mut_ptr(), mask, y);
        }
    }
}
