//! Gradient clipping by global norm.

use super::OptimError;
use crate::real::Real;

/// The Euclidean norm of `grad`, accumulated in f64 in index order (deterministic); fails on
/// the first non-finite entry.
pub fn global_norm<T: Real>(grad: &[T]) -> Result<f64, OptimError> {
    let mut sum = 0.0f64;
    for (index, g) in grad.iter().enumerate() {
        let g = g.f64();
        if !g.is_finite() {
            return Err(OptimError::NonFiniteGradient { index, value: g });
        }
        sum += g * g;
    }
    Ok(sum.sqrt())
}

/// Scales `grad` so its global norm is at most `max_norm`, as PyTorch's `clip_grad_norm_`
/// (factor `max_norm / (norm + 1e-6)`, applied only when below 1). Returns the norm before
/// clipping. Fails when `max_norm` is not finite and > 0, or a gradient entry is not finite
/// (then `grad` is left unchanged).
pub fn clip_grad_norm<T: Real>(grad: &mut [T], max_norm: f64) -> Result<f64, OptimError> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(OptimError::BadOption {
            name: "max_norm",
            value: max_norm,
            reason: "must be finite and > 0",
        });
    }
    let norm = global_norm(grad)?;
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for g in grad.iter_mut() {
            *g = T::of(g.f64() * coef);
        }
    }
    Ok(norm)
}
