//! Vectorisable softplus, sigmoid, SiLU and ELU, and the derivatives that need a transcendental
//! (softplus' `−expm1(−y)`, SiLU's `s(1 + x(1 − s))`), for f64 slices.
//!
//! libm's `exp`, `ln_1p` and `exp_m1` do not vectorise: softplus cost ≈ 9 ns per element and its
//! derivative ≈ 6 ns (`bench/gemm`), about a third of a 3×3 64-channel convolution's GEMM per
//! output element in FFJORD's image flow. Here every element is straight-line code (both sides
//! of each choice computed, one selected) built from the parent module's branch-free `exp`, so
//! the loops vectorise, and on x86-64 they are compiled for AVX2 + FMA (and AVX-512F where the
//! CPU and [`super::simd_level`] allow it). Accuracy (tested below against libm-based
//! references): within 3 ulp for softplus, sigmoid, SiLU and ELU, 4 ulp for the derivatives.
//!
//! - `expm1(x)`: the parent's reduction x = k ln2 + r, then `e^r − 1` by its Taylor series
//!   without the leading 1 (no cancellation for small x), and `2^k·(e^r − 1) + (2^k − 1)`
//!   (`2^k − 1` is exact).
//! - `log1p(u)` for u ∈ [0, 1] (softplus' `log1p(e^{−|x|})`): w = 1 + u, corrected by
//!   `(u − (w − 1))/w`; `log w` as `2 atanh s`, s = (m − 1)/(m + 1) with m = w or w/2 (so
//!   |s| ≤ 0.172), odd series to s²³, plus ln 2 when halved.
//! - Inputs below −708 give `e^{x}` = 0 (the true values are below 3e-308).

use super::{INV_FACTORIAL, LN2_HI, LN2_LO, LOG2E, ROUND, exp_impl, madd};

/// An activation (or derivative) computed here: which slice kernel to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastOp {
    /// `log(1 + eˣ)`.
    Softplus,
    /// `1 / (1 + e^{−x})`.
    Sigmoid,
    /// `x · sigmoid(x)`.
    Silu,
    /// `x` for x > 0, `eˣ − 1` otherwise.
    Elu,
}

/// Bitwise select: `a` where `cond`, else `b` (keeps the loop free of branches).
#[inline(always)]
fn select(cond: bool, a: f64, b: f64) -> f64 {
    let m = 0u64.wrapping_sub(cond as u64);
    f64::from_bits((a.to_bits() & m) | (b.to_bits() & !m))
}

/// `e^{−|x|}`, 0 below e^{−708}.
#[inline(always)]
fn exp_neg_abs<const FMA: bool>(x: f64) -> f64 {
    let ax = x.abs();
    select(ax > 708.0, 0.0, exp_impl::<FMA>(-ax))
}

/// `eˣ − 1` (x clamped to [−708, 709]).
#[inline(always)]
pub(super) fn expm1_impl<const FMA: bool>(x: f64) -> f64 {
    let x = x.clamp(-708.0, 709.0);
    let t = madd::<FMA>(x, LOG2E, ROUND);
    let k = t - ROUND;
    let r = madd::<FMA>(-k, LN2_LO, madd::<FMA>(-k, LN2_HI, x));
    // e^r − 1 = r·Σ_{i≥1} r^{i−1}/i!.
    let mut p = INV_FACTORIAL[13];
    for &c in INV_FACTORIAL[1..13].iter().rev() {
        p = madd::<FMA>(p, r, c);
    }
    let q = p * r;
    let ki = t.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f64::from_bits(ki.wrapping_add(1023) << 52);
    madd::<FMA>(scale, q, scale - 1.0)
}

/// `log(1 + u)` for u ∈ [0, 1].
#[inline(always)]
fn log1p_unit<const FMA: bool>(u: f64) -> f64 {
    let w = 1.0 + u;
    let c = (u - (w - 1.0)) / w;
    let halve = w > std::f64::consts::SQRT_2;
    let m = select(halve, 0.5 * w, w);
    let e = select(halve, 1.0, 0.0);
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    // atanh(s)/s − 1 = z/3 + z²/5 + … + z¹¹/23, as z·P(z).
    let mut p = 1.0 / 23.0;
    for d in [21.0, 19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0] {
        p = madd::<FMA>(p, z, 1.0 / d);
    }
    let s2 = 2.0 * s;
    let log_m = madd::<FMA>(s2 * z, p, s2);
    madd::<FMA>(e, LN2_HI, madd::<FMA>(e, LN2_LO, log_m + c))
}

#[inline(always)]
fn sigmoid_impl<const FMA: bool>(x: f64) -> f64 {
    let e = exp_neg_abs::<FMA>(x);
    let r = 1.0 / (1.0 + e);
    select(x >= 0.0, r, e * r)
}

#[inline(always)]
fn value<const FMA: bool>(op: FastOp, x: f64) -> f64 {
    match op {
        FastOp::Softplus => x.max(0.0) + log1p_unit::<FMA>(exp_neg_abs::<FMA>(x)),
        FastOp::Sigmoid => sigmoid_impl::<FMA>(x),
        FastOp::Silu => x * sigmoid_impl::<FMA>(x),
        FastOp::Elu => select(x > 0.0, x, expm1_impl::<FMA>(x)),
    }
}

/// `g·σ'` from the saved value (softplus: its output `y`, `−expm1(−y)`; SiLU: its input).
#[inline(always)]
fn derivative<const FMA: bool>(op: FastOp, saved: f64, g: f64) -> f64 {
    match op {
        FastOp::Softplus => g * -expm1_impl::<FMA>(-saved),
        FastOp::Silu => {
            let s = sigmoid_impl::<FMA>(saved);
            g * s * (1.0 + saved * (1.0 - s))
        }
        // Not dispatched here (no transcendental): kept total for the match.
        FastOp::Sigmoid => g * (1.0 - saved) * saved,
        FastOp::Elu => select(saved > 0.0, g, g * (saved + 1.0)),
    }
}

// Plain loops with the op fixed per loop, no closures: a closure would not inherit the
// caller's target features, and `mul_add` outside an FMA context is a libm call.
#[inline(always)]
fn apply_with<const FMA: bool>(op: FastOp, v: &mut [f64]) {
    macro_rules! each {
        ($op:expr) => {
            for x in v.iter_mut() {
                *x = value::<FMA>($op, *x);
            }
        };
    }
    match op {
        FastOp::Softplus => each!(FastOp::Softplus),
        FastOp::Sigmoid => each!(FastOp::Sigmoid),
        FastOp::Silu => each!(FastOp::Silu),
        FastOp::Elu => each!(FastOp::Elu),
    }
}

#[inline(always)]
fn derivative_with<const FMA: bool>(op: FastOp, saved: &[f64], g: &mut [f64]) {
    macro_rules! each {
        ($op:expr) => {
            for (gi, &si) in g.iter_mut().zip(saved) {
                *gi = derivative::<FMA>($op, si, *gi);
            }
        };
    }
    match op {
        FastOp::Softplus => each!(FastOp::Softplus),
        FastOp::Silu => each!(FastOp::Silu),
        FastOp::Sigmoid => each!(FastOp::Sigmoid),
        FastOp::Elu => each!(FastOp::Elu),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn apply_avx2(op: FastOp, v: &mut [f64]) {
    apply_with::<true>(op, v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
fn apply_avx512(op: FastOp, v: &mut [f64]) {
    apply_with::<true>(op, v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn derivative_avx2(op: FastOp, saved: &[f64], g: &mut [f64]) {
    derivative_with::<true>(op, saved, g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
fn derivative_avx512(op: FastOp, saved: &[f64], g: &mut [f64]) {
    derivative_with::<true>(op, saved, g)
}

/// `v[i] ← op(v[i])` on the best SIMD path allowed.
pub fn apply_in_place(op: FastOp, v: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if super::has_avx512() {
            // SAFETY: the CPU supports AVX-512F/DQ, AVX2 and FMA (`simd_level` never exceeds
            // the detected level).
            return unsafe { apply_avx512(op, v) };
        }
        if super::has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (as above).
            return unsafe { apply_avx2(op, v) };
        }
    }
    apply_with::<false>(op, v)
}

/// `g[i] ← g[i]·op'(…)` from `saved` (softplus: its output; SiLU: its input; sigmoid, ELU:
/// their output) on the best SIMD path allowed. `saved` and `g` have the same length.
pub fn mul_derivative(op: FastOp, saved: &[f64], g: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if super::has_avx512() {
            // SAFETY: as in `apply_in_place`.
            return unsafe { derivative_avx512(op, saved, g) };
        }
        if super::has_avx2_fma() {
            // SAFETY: as in `apply_in_place`.
            return unsafe { derivative_avx2(op, saved, g) };
        }
    }
    derivative_with::<false>(op, saved, g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::simd::SimdLevel;

    /// One SIMD path's kernels (called directly: forcing the global level would race with
    /// the other tests of this binary).
    struct Path {
        name: &'static str,
        apply: fn(FastOp, &mut [f64]),
        derivative: fn(FastOp, &[f64], &mut [f64]),
    }

    fn paths() -> Vec<Path> {
        let mut v = vec![Path {
            name: "portable",
            apply: apply_with::<false>,
            derivative: derivative_with::<false>,
        }];
        #[cfg(target_arch = "x86_64")]
        {
            let detected = SimdLevel::detected();
            if detected >= SimdLevel::Avx2 {
                // SAFETY (of the calls through these pointers): the CPU supports AVX2 + FMA.
                v.push(Path {
                    name: "avx2",
                    apply: |op, x| unsafe { apply_avx2(op, x) },
                    derivative: |op, s, g| unsafe { derivative_avx2(op, s, g) },
                });
            }
            if detected >= SimdLevel::Avx512 {
                // SAFETY (as above): the CPU supports AVX-512F/DQ.
                v.push(Path {
                    name: "avx512",
                    apply: |op, x| unsafe { apply_avx512(op, x) },
                    derivative: |op, s, g| unsafe { derivative_avx512(op, s, g) },
                });
            }
        }
        v
    }

    fn ulps(a: f64, b: f64) -> u64 {
        if a == b {
            return 0;
        }
        if a.signum() != b.signum() {
            return u64::MAX;
        }
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    fn sigmoid_ref(x: f64) -> f64 {
        let e = (-x.abs()).exp();
        let r = 1.0 / (1.0 + e);
        if x >= 0.0 { r } else { e * r }
    }

    fn inputs() -> Vec<f64> {
        let mut v: Vec<f64> = (0..200_001).map(|i| -50.0 + i as f64 * 5e-4).collect();
        v.extend((0..20_000).map(|i| i as f64 * 1e-7));
        v.extend((0..20_000).map(|i| -(i as f64) * 1e-7));
        v.extend([
            0.0, -0.0, 1e-300, -1e-300, 700.0, -700.0, -707.9, -708.1, 800.0,
        ]);
        v
    }

    /// Worst ulp distance of `op` (applied on the current path) from `reference` over the
    /// inputs with |reference| ≥ `floor` (smaller ones: absolute error ≤ `floor`·1e-16).
    fn worst(path: &Path, op: FastOp, reference: fn(f64) -> f64) -> u64 {
        let x = inputs();
        let mut y = x.clone();
        (path.apply)(op, &mut y);
        let mut w = 0;
        for (xi, yi) in x.iter().zip(&y) {
            let r = reference(*xi);
            if r.abs() < 1e-300 {
                assert!(yi.abs() < 1e-300, "{op:?}({xi}) = {yi}, want {r}");
                continue;
            }
            w = w.max(ulps(*yi, r));
        }
        w
    }

    fn worst_derivative(
        path: &Path,
        op: FastOp,
        saved_of: fn(f64) -> f64,
        reference: fn(f64) -> f64,
    ) -> u64 {
        let x = inputs();
        let saved: Vec<f64> = x.iter().map(|&v| saved_of(v)).collect();
        let mut g = vec![1.0; x.len()];
        (path.derivative)(op, &saved, &mut g);
        let mut w = 0;
        for (xi, gi) in x.iter().zip(&g) {
            let r = reference(*xi);
            if r.abs() < 1e-300 {
                assert!(gi.abs() < 1e-300, "{op:?}'({xi}) = {gi}, want {r}");
                continue;
            }
            w = w.max(ulps(*gi, r));
        }
        w
    }

    #[test]
    fn activations_are_within_a_few_ulp_on_every_simd_path() {
        let softplus = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
        for path in &paths() {
            let l = path.name;
            let w = worst(path, FastOp::Softplus, softplus);
            assert!(w <= 3, "{l} softplus: {w} ulp");
            let w = worst(path, FastOp::Sigmoid, sigmoid_ref);
            assert!(w <= 3, "{l} sigmoid: {w} ulp");
            let w = worst(path, FastOp::Silu, |x| x * sigmoid_ref(x));
            assert!(w <= 3, "{l} silu: {w} ulp");
            let w = worst(path, FastOp::Elu, |x| if x > 0.0 { x } else { x.exp_m1() });
            assert!(w <= 3, "{l} elu: {w} ulp");
            // Softplus' derivative from its output: sigmoid(x) = −expm1(−softplus(x)); the
            // reference takes the same saved value through libm's expm1.
            let w = worst_derivative(path, FastOp::Softplus, softplus, |x| {
                -(-(x.max(0.0) + (-x.abs()).exp().ln_1p())).exp_m1()
            });
            assert!(w <= 4, "{l} softplus': {w} ulp");
            // SiLU's derivative crosses zero near x = −1.28, where 1 + x(1 − s) cancels: the
            // error is measured against the size of its terms, s·(1 + |x|(1 − s)).
            let x = inputs();
            let mut g = vec![1.0; x.len()];
            (path.derivative)(FastOp::Silu, &x, &mut g);
            for (xi, gi) in x.iter().zip(&g) {
                let s = sigmoid_ref(*xi);
                let want = s * (1.0 + xi * (1.0 - s));
                let scale = s * (1.0 + xi.abs() * (1.0 - s));
                assert!(
                    (gi - want).abs() <= 4.0 * f64::EPSILON * scale + 1e-300,
                    "{l} silu'({xi}) = {gi}, want {want}"
                );
            }
        }
    }

    #[test]
    fn expm1_is_within_two_ulp_and_exact_at_zero() {
        let mut w = 0;
        let mut x = -40.0;
        while x < 700.0 {
            w = w.max(ulps(expm1_impl::<false>(x), x.exp_m1()));
            x += 0.00731;
        }
        for i in 1..20_000 {
            let x = i as f64 * 3e-9 - 3e-5;
            w = w.max(ulps(expm1_impl::<false>(x), x.exp_m1()));
        }
        assert!(w <= 2, "expm1: {w} ulp");
        assert_eq!(expm1_impl::<false>(0.0), 0.0);
        assert_eq!(expm1_impl::<false>(-1e9), -1.0);
    }

    #[test]
    fn nan_propagates_and_every_length_works() {
        for op in [FastOp::Softplus, FastOp::Sigmoid, FastOp::Silu, FastOp::Elu] {
            let mut v = [f64::NAN];
            apply_in_place(op, &mut v);
            assert!(v[0].is_nan(), "{op:?}(NaN) = {}", v[0]);
            for n in 0..20 {
                let x: Vec<f64> = (0..n).map(|i| 0.37 * i as f64 - 3.0).collect();
                let mut y = x.clone();
                apply_in_place(op, &mut y);
                let mut one = x.clone();
                for o in one.iter_mut() {
                    apply_in_place(op, std::slice::from_mut(o));
                }
                assert_eq!(y, one, "{op:?}, n = {n}");
            }
        }
    }
}
