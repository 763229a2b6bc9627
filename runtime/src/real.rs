//! The floating-point element type of states and parameters (f32 or f64).

use std::fmt::{Debug, Display};
use std::iter::Sum;

use crate::linalg::fastmath::logistic::{self, FastOp};

/// A real scalar the runtime computes in: implemented for `f32` and `f64`.
///
/// Times are always kept in `f64` (as torchdiffeq keeps its time tensor); states, parameters and
/// step sizes inside kernels use `T`.
pub trait Real:
    num_traits::Float
    + num_traits::FloatConst
    + Copy
    + Send
    + Sync
    + Default
    + Debug
    + Display
    + Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + 'static
{
    /// Converts from f64 (rounding to nearest for f32).
    fn of(x: f64) -> Self;
    /// Widens to f64.
    fn f64(self) -> f64;
    /// A short name, `"f32"` or `"f64"`.
    const NAME: &'static str;
    /// `v[i] ← tanh(v[i])`, vectorised (see `linalg::fastmath`).
    fn tanh_slice(v: &mut [Self]);
    /// `v[i] ← op(v[i])` for softplus, sigmoid, SiLU or ELU, vectorised (see
    /// `linalg::fastmath::logistic`).
    fn logistic_slice(op: FastOp, v: &mut [Self]);
    /// `g[i] ← g[i]·op'(…)` from the saved values (see `logistic::mul_derivative`).
    fn logistic_mul_derivative(op: FastOp, saved: &[Self], g: &mut [Self]);
}

impl Real for f64 {
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
    const NAME: &'static str = "f64";
    fn tanh_slice(v: &mut [Self]) {
        crate::linalg::fastmath::tanh_in_place(v)
    }
    fn logistic_slice(op: FastOp, v: &mut [Self]) {
        logistic::apply_in_place(op, v)
    }
    fn logistic_mul_derivative(op: FastOp, saved: &[Self], g: &mut [Self]) {
        logistic::mul_derivative(op, saved, g)
    }
}

impl Real for f32 {
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
    const NAME: &'static str = "f32";
    fn tanh_slice(v: &mut [Self]) {
        crate::linalg::fastmath::tanh_in_place_f32(v)
    }
    /// Computed in f64 (vectorised, through stack buffers) and rounded once.
    fn logistic_slice(op: FastOp, v: &mut [Self]) {
        crate::linalg::fastmath::map_via_f64(v, |b| logistic::apply_in_place(op, b))
    }
    /// Computed in f64 (vectorised, through stack buffers) and rounded once.
    fn logistic_mul_derivative(op: FastOp, saved: &[Self], g: &mut [Self]) {
        let (mut sb, mut gb) = ([0.0f64; 512], [0.0f64; 512]);
        for (gc, sc) in g.chunks_mut(gb.len()).zip(saved.chunks(sb.len())) {
            let (s, gw) = (&mut sb[..sc.len()], &mut gb[..gc.len()]);
            for (d, &x) in s.iter_mut().zip(sc.iter()) {
                *d = x as f64;
            }
            for (d, &x) in gw.iter_mut().zip(gc.iter()) {
                *d = x as f64;
            }
            logistic::mul_derivative(op, s, gw);
            for (x, &d) in gc.iter_mut().zip(gw.iter()) {
                *x = d as f32;
            }
        }
    }
}
