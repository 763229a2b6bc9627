//! tanh for f64 with AVX2 + FMA intrinsics: one table-driven exponential as a rational
//! function, and one division for the whole result.
//!
//! `tanh |x| = m / (m + 2)` with `m = e^y − 1`, y = 2|x|, sign restored, as in `tanh512`. AVX2
//! has no two-register permute of doubles, but `vpermps` picks any of the 8 floats of one
//! register, i.e. any of **4 doubles** (each double's halves picked by indices 2j and 2j + 1).
//! So the reduction is y = (4k + j)·ln2/4 + r with n = 4k + j **rounded to nearest**, j = 0..3,
//! r ∈ [−ln2/8, ln2/8], with Gal's exact nodes (`T_j = 2^{j/4}` rounded, the node `ln T_j`
//! corrected by a second table that also carries the j-part of ln2/4's rounding error), and `e^r`
//! is the [4/4] Padé approximant (E + rO)/(E − rO), E of degree 2 and O of degree 1 in r²
//! (truncation 1.1e-17 relative on the half-width interval). Then `e^r − 1 = 2rO/D`
//! (D = E − rO), `m = N/D` with N = S·2rO + (S − 1)·D, S = 2^k·T_j (k added to T_j's exponent
//! bits), and `tanh = N/(N + 2D)`: one division for the exponential and the quotient together,
//! where the polynomial version (degree-7 minimax expm1, a third table for T_j − 1, then
//! m/(m + 2)) took 14 multiply–adds, 3 `vpermps` and the division per vector.
//!
//! On a Zen 3 core (cpu family 25, model 1; hot, 16384 elements): 1.27–1.31 ns per element; the
//! form before it (n rounded down, r ∈ [0, ln2/4), the [5/5] approximant, ln2/4's low part
//! subtracted as n·`STEP_LO`, 2^k built and multiplied in) 1.47–1.53, the polynomial version
//! 2.0–2.1, the two-path loop the compiler vectorised 2.9. Rounding to nearest halves the
//! interval, which lets the approximant drop a degree, and takes one addition off the start of
//! the chain; `llvm-mca -mcpu=znver3` puts the rest on the two FMA pipes (the multiply–adds, the
//! division and the table permutes). The price is accuracy: within 4 ulp of libm as before, but
//! 97.8% of the test's inputs within 1 ulp (98.1% before): for n = 1 and r < 0
//! (|x| ≈ 0.043–0.087) the two terms of N have opposite signs and N is about half the larger
//! one. The k-part of ln2/4's rounding error is left out: it shifts r by at most 4k·5.8e-18,
//! which moves tanh by that over sinh(y) ≤ 0.3 ulp relative (k ≥ 1 means y ≥ 0.6). NaN
//! propagates; ±∞ → ±1.

use std::arch::x86_64::*;

/// 2^{j/4}, j = 0..3, rounded to f64.
const T: [f64; 4] = [
    1.0,
    1.189_207_115_002_721,
    std::f64::consts::SQRT_2,
    1.681_792_830_507_429,
];

/// ln(T[j]) − j·ln2/4 (the exact node of each rounded table value, see `tanh512`).
const NODE: [f64; 4] = [
    0.0,
    -3.348_462_333_625_152_4e-17,
    6.835_808_657_661_923e-17,
    -4.875_160_526_227_062e-17,
];

/// NODE[j] + j·STEP_LO: the node correction and the j-part of ln2/4's rounding error in one
/// table entry (the k-part is left out, see the module doc).
const NODE_LO: [f64; 4] = [
    NODE[0],
    NODE[1] + STEP_LO,
    NODE[2] + 2.0 * STEP_LO,
    NODE[3] + 3.0 * STEP_LO,
];

const INV_STEP: f64 = 5.770_780_163_555_853_5; // 4 / ln 2
const STEP_HI: f64 = 0.173_286_795_139_986_32; // ln 2 / 4, rounded
const STEP_LO: f64 = 5.797_617_034_615_749e-18; // ln 2 / 4 − STEP_HI
const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52

/// The [4/4] Padé approximant of e^r is E(r²) + r·O(r²) over E(r²) − r·O(r²), so
/// `expm1(r) = 2r·O / (E − r·O)` with no cancellation; truncation 1.1e-17 relative on
/// [−ln2/8, ln2/8]. Coefficients of E and O (each scaled by 2 for the kernel), lowest degree
/// first: E = 1 + 3r²/28 + r⁴/1680, O = 1/2 + r²/84.
const E2: [f64; 3] = [2.0, 3.0 / 14.0, 1.0 / 840.0];
const O2: [f64; 2] = [1.0, 1.0 / 42.0];

/// The two table registers, as 8 floats each: T and NODE_LO.
type Tables = [__m256; 2];

/// Entry j of a 4-double table for each lane; `idx` holds 2j and 2j + 1 in each lane's two
/// 32-bit halves (only their low 3 bits are read).
#[inline]
#[target_feature(enable = "avx2")]
fn lookup(table: __m256, idx: __m256i) -> __m256d {
    _mm256_castps_pd(_mm256_permutevar8x32_ps(table, idx))
}

/// tanh of `L` vectors of 4 lanes, each step applied to all `L` before the next (independent
/// chains for the out-of-order core, as in `tanh512`).
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tanh_vectors<const L: usize>(x: [__m256d; L], tables: &Tables) -> [__m256d; L] {
    let sign = _mm256_set1_pd(-0.0);
    // h = min(20, |x|) = y/2 keeps NaN (the second operand is returned when one is NaN).
    let h = x.map(|x| _mm256_min_pd(_mm256_set1_pd(20.0), _mm256_andnot_pd(sign, x)));
    // n = round(y·4/ln2) via the 1.5·2^52 rounding trick, in one multiply–add.
    let t = h.map(|h| _mm256_fmadd_pd(h, _mm256_set1_pd(2.0 * INV_STEP), _mm256_set1_pd(ROUND)));
    let nf = t.map(|t| _mm256_sub_pd(t, _mm256_set1_pd(ROUND)));
    // The low mantissa bits of t hold n ≥ 0: bits 0..1 pick the table entry, the rest is k.
    let ti = t.map(|t| _mm256_castpd_si256(t));
    // vpermps indices: 2n in the low half of each lane, 2n + 1 in the high half (mod 8).
    let idx = ti.map(|ti| {
        let lo = _mm256_slli_epi64::<1>(ti);
        let hi = _mm256_or_si256(_mm256_slli_epi64::<32>(lo), _mm256_set1_epi64x(1 << 32));
        _mm256_blend_epi32::<0b1010_1010>(lo, hi)
    });
    // r = 2h − n·STEP_HI − (a_j − j·ln2/4) − j·STEP_LO (2h exact).
    let mut r = [_mm256_setzero_pd(); L];
    for i in 0..L {
        let y = _mm256_add_pd(h[i], h[i]);
        r[i] = _mm256_fnmadd_pd(nf[i], _mm256_set1_pd(STEP_HI), y);
    }
    for i in 0..L {
        r[i] = _mm256_sub_pd(r[i], lookup(tables[1], idx[i]));
    }
    // k·2^52 from the low bits of t (n = 4k + j there), added to T_j's exponent below.
    let kexp = ti.map(|ti| {
        _mm256_and_si256(
            _mm256_slli_epi64::<50>(ti),
            _mm256_set1_epi64x(0xfff0_0000_0000_0000_u64 as i64),
        )
    });
    let mut th = [_mm256_setzero_pd(); L];
    for i in 0..L {
        let r2 = _mm256_mul_pd(r[i], r[i]);
        let e2 = _mm256_fmadd_pd(
            _mm256_fmadd_pd(r2, _mm256_set1_pd(E2[2]), _mm256_set1_pd(E2[1])),
            r2,
            _mm256_set1_pd(E2[0]),
        );
        // 2r·O = r + r·r²/42: the correction rounded, then one rounding.
        let ro2 = _mm256_fmadd_pd(_mm256_mul_pd(r2, _mm256_set1_pd(O2[1])), r[i], r[i]);
        let d2 = _mm256_sub_pd(e2, ro2); // 2D = 2(E − rO) > 0
        // With S = 2^k·T_j: m = e^y − 1 = N/D, N = S·2rO + (S − 1)·D, and tanh = N/(N + 2D);
        // here both doubled. S = T_j with k added to its exponent (k ≤ 58: no overflow);
        // S − 1 is exact for k = 0 (Sterbenz), one rounding above.
        let s = _mm256_castsi256_pd(_mm256_add_epi64(
            _mm256_castpd_si256(lookup(tables[0], idx[i])),
            kexp[i],
        ));
        let s_m1 = _mm256_sub_pd(s, _mm256_set1_pd(1.0));
        let n2 = _mm256_fmadd_pd(_mm256_add_pd(s, s), ro2, _mm256_mul_pd(s_m1, d2));
        // N + 2D from N itself, so their errors cancel in the quotient near 1 (2·2D exact).
        let den = _mm256_add_pd(n2, _mm256_add_pd(d2, d2));
        let q = _mm256_div_pd(n2, den);
        th[i] = _mm256_or_pd(q, _mm256_and_pd(x[i], sign));
    }
    th
}

/// `v[i] ← tanh(v[i])`.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tanh_in_place(v: &mut [f64]) {
    // SAFETY: each load reads the 8 floats of a 4-double array.
    let tables: Tables = unsafe {
        [
            _mm256_loadu_ps(T.as_ptr().cast()),
            _mm256_loadu_ps(NODE_LO.as_ptr().cast()),
        ]
    };
    let mut pairs = v.chunks_exact_mut(8);
    for c in &mut pairs {
        // SAFETY: 8 elements; the features are enabled.
        unsafe {
            let x = [
                _mm256_loadu_pd(c.as_ptr()),
                _mm256_loadu_pd(c.as_ptr().add(4)),
            ];
            let [y0, y1] = tanh_vectors(x, &tables);
            _mm256_storeu_pd(c.as_mut_ptr(), y0);
            _mm256_storeu_pd(c.as_mut_ptr().add(4), y1);
        }
    }
    for rest in pairs.into_remainder().chunks_mut(4) {
        let mut buf = [0.0; 4];
        buf[..rest.len()].copy_from_slice(rest);
        // SAFETY: `buf` holds 4 elements; the features are enabled.
        unsafe {
            let [y] = tanh_vectors([_mm256_loadu_pd(buf.as_ptr())], &tables);
            _mm256_storeu_pd(buf.as_mut_ptr(), y);
        }
        rest.copy_from_slice(&buf[..rest.len()]);
    }
}
