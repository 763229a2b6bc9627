//! The backward sweep over one component's accepted steps, adding the output cotangents.

use crate::error::SolveError;
use crate::real::Real;
use crate::solver::{Grid, Trajectory};

/// Walks the steps of `grid` in reverse. Before stepping back over step n (t_n → t_{n+1}) it adds
/// the cotangents of the outputs at t_{n+1}; `step_back(n, λ)` maps λ_{n+1} to λ_n in place.
/// Non-finite adjoints are reported with the step and time.
pub(crate) fn sweep<T: Real>(
    component: usize,
    grid: &Grid,
    cot: &Trajectory<T>,
    lam: &mut [T],
    mut step_back: impl FnMut(usize, &mut [T]) -> Result<(), SolveError>,
) -> Result<(), SolveError> {
    let mut k = grid.output_at.len();
    for n in (0..grid.steps()).rev() {
        while k > 0 && grid.output_at[k - 1] == n + 1 {
            for (l, &c) in lam.iter_mut().zip(&cot[k - 1]) {
                *l += c;
            }
            k -= 1;
        }
        step_back(n, lam)?;
        if lam.iter().any(|v| !v.is_finite()) {
            return Err(SolveError::NonFinite {
                what: "adjoint",
                component,
                step: n,
                t: grid.t[n],
            });
        }
    }
    Ok(())
}
