//! tanh for f64 with AVX2 + FMA intrinsics: the single-path kernel of `tanh512` (one `expm1`,
//! one division) fitted to what a 256-bit core has.
//!
//! `tanh |x| = m / (m + 2)` with `m = e^{2|x|} − 1`, sign restored, as in `tanh512`; the
//! differences are the table and the polynomial. AVX2 has no two-register permute of doubles,
//! but `vpermps` picks any of the 8 floats of one register, i.e. any of **4 doubles** (each
//! double's two halves picked by indices 2j and 2j + 1). So the reduction is
//! y = (4k + j)·ln2/4 + r, j = 0..3, r ∈ [0, ln2/4), and `expm1(r) = r + r²·q(r)` takes a
//! degree-7 near-minimax q (`scripts/tanh_minimax.py`, 2e-18 relative) instead of degree 5.
//! Gal's exact nodes as before (`T_j` rounded, the node `ln T_j` corrected by a third table),
//! the reduction on h = |x| = y/2 with the constants scaled by powers of two, 2^k from the
//! rounding trick's bits (a logical shift: AVX2 has no 64-bit arithmetic one, and the biased
//! value is positive). About 50 instructions per 4 elements (the compiler's schedule, constants
//! reloaded) against ~60 and two divisions for the two-path loop it vectorised before: 2.0 ns per
//! element on a Zen 3 core (cpu family 25, model 1), was 2.9. There the two FMA pipes are the
//! limit (`llvm-mca -mcpu=znver3`: 14 multiply–adds, 3 `vpermd` and the division per vector
//! share them); two vectors interleaved are 8% faster than one, dropping the node table would
//! save 5% at about 1 ulp.
//! Within 3 ulp of libm (tested in the parent); NaN propagates; ±∞ → ±1.

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

const INV_STEP: f64 = 5.770_780_163_555_853_5; // 4 / ln 2
const STEP_HI: f64 = 0.173_286_795_139_986_32; // ln 2 / 4, rounded
const STEP_LO: f64 = 5.797_617_034_615_749e-18; // ln 2 / 4 − STEP_HI
const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52

/// q(r) ≈ (expm1(r) − r)/r² on [−0.0005, 0.1737], lowest degree first:
/// `scripts/tanh_minimax.py`.
const Q: [f64; 8] = [
    0.5,
    0.166_666_666_666_671_6,
    0.041_666_666_666_039_555,
    0.008_333_333_362_805_328,
    0.001_388_888_215_786_044,
    0.000_198_420_999_310_061_2,
    2.474_515_255_853_201_8e-5,
    2.953_987_031_984_174_4e-6,
];

/// `a·v + b` for each entry of a table (exact for the scalings and the `T − 1` used here).
const fn table(v: [f64; 4], a: f64, b: f64) -> [f64; 4] {
    [a * v[0] + b, a * v[1] + b, a * v[2] + b, a * v[3] + b]
}

/// 2·T[j]: the polynomial gives expm1(r)/2.
const TWICE_T: [f64; 4] = table(T, 2.0, 0.0);
/// NODE[j]/2: the reduction works on r/2.
const HALF_NODE: [f64; 4] = table(NODE, 0.5, 0.0);
/// T[j] − 1, exact since T[j] ∈ [1, 2).
const T_MINUS_1: [f64; 4] = table(T, 1.0, -1.0);

/// The three table registers, as 8 floats each: 2·T, NODE/2, T − 1.
type Tables = [__m256; 3];

/// Entry j of a 4-double table for each lane; `idx` holds 2j and 2j + 1 in each lane's two
/// 32-bit halves (only their low 3 bits are read).
#[inline(always)]
fn lookup(table: __m256, idx: __m256i) -> __m256d {
    // SAFETY: register-only operation; the callers run with AVX2 enabled.
    unsafe { _mm256_castps_pd(_mm256_permutevar8x32_ps(table, idx)) }
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
    // n = floor(y·4/ln2) via the 1.5·2^52 rounding trick on h·8/ln2 − 0.5.
    let t = h.map(|h| {
        let u = _mm256_fmsub_pd(h, _mm256_set1_pd(2.0 * INV_STEP), _mm256_set1_pd(0.5));
        _mm256_add_pd(u, _mm256_set1_pd(ROUND))
    });
    let nf = t.map(|t| _mm256_sub_pd(t, _mm256_set1_pd(ROUND)));
    // The low mantissa bits of t hold n ≥ 0: bits 0..1 pick the table entry, the rest is k.
    let ti = t.map(|t| _mm256_castpd_si256(t));
    // vpermps indices: 2n in the low half of each lane, 2n + 1 in the high half (mod 8).
    let idx = ti.map(|ti| {
        let lo = _mm256_slli_epi64::<1>(ti);
        let hi = _mm256_or_si256(_mm256_slli_epi64::<32>(lo), _mm256_set1_epi64x(1 << 32));
        _mm256_blend_epi32::<0b1010_1010>(lo, hi)
    });
    // rh = r/2 = h − n·ln2/8 − (a_j − j·ln2/4)/2.
    let mut rh = [_mm256_setzero_pd(); L];
    for i in 0..L {
        rh[i] = _mm256_fnmadd_pd(nf[i], _mm256_set1_pd(0.5 * STEP_HI), h[i]);
    }
    for i in 0..L {
        rh[i] = _mm256_fnmadd_pd(nf[i], _mm256_set1_pd(0.5 * STEP_LO), rh[i]);
    }
    for i in 0..L {
        rh[i] = _mm256_sub_pd(rh[i], lookup(tables[1], idx[i]));
    }
    let t2 = idx.map(|idx| lookup(tables[0], idx));
    let tm1 = idx.map(|idx| lookup(tables[2], idx));
    // (n + 4·1023) >> 2 = k + 1023, the biased exponent of 2^k (positive: a logical shift).
    let bias = _mm256_set1_epi64x(4 * 1023 - ROUND.to_bits() as i64);
    let scale = ti.map(|ti| {
        let kb = _mm256_srli_epi64::<2>(_mm256_add_epi64(ti, bias));
        _mm256_castsi256_pd(_mm256_slli_epi64::<52>(kb))
    });
    // expm1(r)/2 = rh + rh²·2q(2rh); 2q(2rh) has the coefficients 2^{j+1}·q_j.
    let mut p = [_mm256_set1_pd(Q[7] * 256.0); L];
    for (j, &c) in Q[..7].iter().enumerate().rev() {
        let c = _mm256_set1_pd(c * f64::from(2u32 << j));
        for i in 0..L {
            p[i] = _mm256_fmadd_pd(p[i], rh[i], c);
        }
    }
    let mut th = [_mm256_setzero_pd(); L];
    for i in 0..L {
        let em_half = _mm256_fmadd_pd(_mm256_mul_pd(p[i], rh[i]), rh[i], rh[i]);
        // e_j = 2T_j·expm1(r)/2 + (T_j − 1), T_j − 1 exact.
        let ej = _mm256_fmadd_pd(t2[i], em_half, tm1[i]);
        let scale_m1 = _mm256_sub_pd(scale[i], _mm256_set1_pd(1.0));
        let m = _mm256_fmadd_pd(scale[i], ej, scale_m1);
        let q = _mm256_div_pd(m, _mm256_add_pd(m, _mm256_set1_pd(2.0)));
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
            _mm256_loadu_ps(TWICE_T.as_ptr().cast()),
            _mm256_loadu_ps(HALF_NODE.as_ptr().cast()),
            _mm256_loadu_ps(T_MINUS_1.as_ptr().cast()),
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
