//! Checks of a solve's inputs that every caller (plain solves and gradient methods) shares.

use crate::error::SolveError;
use crate::real::Real;

/// Checks that `x0` is a non-empty batch of `dim`-dimensional states.
pub(crate) fn check_state<T: Real>(dim: usize, x0: &[T]) -> Result<(), SolveError> {
    if dim == 0 {
        return Err(SolveError::BadOption {
            name: "dim",
            value: "0".into(),
            reason: "the state dimension must be ≥ 1",
        });
    }
    if x0.is_empty() || !x0.len().is_multiple_of(dim) {
        return Err(SolveError::Length {
            what: format!("x0 (a multiple of the state dimension {dim})"),
            expected: dim * (x0.len() / dim).max(1),
            got: x0.len(),
        });
    }
    Ok(())
}

/// Checks that `times` (start, then output times) has at least two finite, strictly increasing
/// entries; errors name the component and the index.
pub(crate) fn check_times(component: usize, times: &[f64]) -> Result<(), SolveError> {
    if times.len() < 2 {
        return Err(SolveError::TooFewTimes {
            component,
            got: times.len(),
        });
    }
    for (i, w) in times.windows(2).enumerate() {
        if !(w[0].is_finite() && w[1].is_finite() && w[1] > w[0]) {
            return Err(SolveError::BadTimes {
                component,
                index: i + 1,
                value: w[1],
                previous: w[0],
            });
        }
    }
    Ok(())
}
