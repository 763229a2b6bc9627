//! The floating-point element type of states and parameters (f32 or f64).

use std::fmt::{Debug, Display};
use std::iter::Sum;

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
    /// `v[i] ← 1/(1 + e^{−v[i]})`, vectorised (see `linalg::fastmath`).
    fn sigmoid_slice(v: &mut [Self]);
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
    fn sigmoid_slice(v: &mut [Self]) {
        crate::linalg::fastmath::sigmoid_in_place(v)
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
    fn sigmoid_slice(v: &mut [Self]) {
        crate::linalg::fastmath::sigmoid_in_place_f32(v)
    }
}
