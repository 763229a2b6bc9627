//! The step kernels: the tableau-dependent arithmetic of a Runge–Kutta step and of its
//! symplectic adjoint, the part that the macro and the JIT specialise.
//!
//! [`Scheme`](crate::Scheme) runs these loops over its float coefficients (the *interpreted*
//! source, skipping zero coefficients). A specialised source — `neural_ode!`'s generated code,
//! or the Cranelift JIT — implements [`StepKernels`] with the coefficients baked in and is
//! attached with [`Scheme::with_kernels`](crate::Scheme::with_kernels); every gradient method
//! then runs it. All slices have the state length n = batch · dim; `k` and `u` hold one slice
//! per stage.

use crate::real::Real;

/// The tableau-dependent kernels of a step (forward, stage recompute, adjoint).
pub trait StepKernels<T: Real>: Send + Sync {
    /// Stage input `out = x + h Σ_{j<i} a_ij k_j` (1 ≤ i < s). Forward steps and the stage
    /// recomputation of the checkpointing and symplectic methods both use it.
    fn stage_input(&self, i: usize, h: T, x: &[T], k: &[Vec<T>], out: &mut [T]);
    /// Update `out = x + h Σ_{i<m} b_i k_i` over the first `m` stages.
    fn update(&self, m: usize, h: T, x: &[T], k: &[Vec<T>], out: &mut [T]);
    /// Error estimate `out = h Σ_i (b_i − b̂_i) k_i` (only called for adaptive tableaux).
    fn error_estimate(&self, h: T, k: &[Vec<T>], out: &mut [T]);
    /// The symplectic adjoint's stage cotangent with the partner's coefficients G:
    /// `out = h b_i (λ + Σ_{j>i} G_ij u_j)`, or `out = h Σ_{j>i} G_ij u_j` when b_i = 0.
    fn adjoint_cotangent(&self, i: usize, h: T, lam: &[T], u: &[Vec<T>], out: &mut [T]);
}

/// `out = x + h Σ_j coef_j k_j` over the j where coef_j ≠ 0.
#[inline]
pub(crate) fn combine<T: Real>(out: &mut [T], x: &[T], h: T, coefs: &[T], k: &[Vec<T>]) {
    out.copy_from_slice(x);
    for (c, kj) in coefs.iter().zip(k) {
        if *c != T::zero() {
            let w = h * *c;
            for (o, &v) in out.iter_mut().zip(kj) {
                *o += w * v;
            }
        }
    }
}

/// `out = h Σ_j e_j k_j` over the j where e_j ≠ 0.
#[inline]
pub(crate) fn weighted_sum<T: Real>(out: &mut [T], h: T, e: &[T], k: &[Vec<T>]) {
    out.fill(T::zero());
    for (c, kj) in e.iter().zip(k) {
        if *c != T::zero() {
            let w = h * *c;
            for (o, &v) in out.iter_mut().zip(kj) {
                *o += w * v;
            }
        }
    }
}
