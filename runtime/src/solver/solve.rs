//! Plain integration of one ODE (no gradient).

use super::check::{check_state, check_times};
use super::drive::{Counters, Forward, Grid, StepWorkspace, state_norm};
use super::options::Stepping;
use super::per_sample::PerSample;
use super::sink::StageSink;
use super::trajectory::Trajectory;
use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::real::Real;
use crate::scheme::Scheme;

/// States at the output times of a solve, with its grid and counters.
#[derive(Clone, Debug)]
pub struct Solution<T> {
    /// States at `times[1..]`, each `[batch·dim]`.
    pub states: Trajectory<T>,
    /// The accepted step grid (empty under per-sample steps: see `sample_grids`).
    pub grid: Grid,
    /// Under per-sample steps ([`Stepping::per_sample`]), each sample's accepted grid;
    /// empty otherwise.
    pub sample_grids: Vec<Grid>,
    /// Evaluations and steps.
    pub counters: Counters,
}

struct Eval<'a, T: Real>(&'a dyn Dynamics<T>);

impl<T: Real> StageSink<T> for Eval<'_, T> {
    fn eval(&mut self, _i: usize, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]) {
        self.0.eval(T::of(t), x, k, scratch);
    }
    fn probe(&mut self, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]) {
        self.0.eval(T::of(t), x, k, scratch);
    }
    fn accept(&mut self, _t0: f64, _t1: f64, _x_n: &[T], _fsal: bool) {}
}

/// Integrates `dynamics` from `x0` at `times[0]` through the output times `times[1..]`.
///
/// With per-sample steps ([`Stepping::per_sample`]) every sample takes its own adaptive steps
/// (its grid in [`Solution::sample_grids`]); [`replay`] of such a solution replays one sample
/// at a time (a batch of one row with its grid).
pub fn solve<T: Real>(
    dynamics: &dyn Dynamics<T>,
    scheme: &Scheme<T>,
    stepping: &Stepping,
    times: &[f64],
    x0: &[T],
) -> Result<Solution<T>, SolveError> {
    solve_impl(dynamics, scheme, stepping, times, x0, None)
}

/// Integrates `dynamics` from `x0` on a given accepted grid (e.g. [`Solution::grid`] of an
/// earlier solve with the same scheme and stepping): the same stages are evaluated, with the
/// same FSAL reuse, but no error estimates, probes or rejected trials, so the states equal the
/// original solve's bit for bit when x0 and the parameters do. A grid that does not start at
/// `times[0]` or does not land on every output time is an error
/// ([`SolveError::GridMismatch`]).
pub fn replay<T: Real>(
    dynamics: &dyn Dynamics<T>,
    scheme: &Scheme<T>,
    stepping: &Stepping,
    times: &[f64],
    grid: &Grid,
    x0: &[T],
) -> Result<Solution<T>, SolveError> {
    solve_impl(dynamics, scheme, stepping, times, x0, Some(grid))
}

fn solve_impl<T: Real>(
    dynamics: &dyn Dynamics<T>,
    scheme: &Scheme<T>,
    stepping: &Stepping,
    times: &[f64],
    x0: &[T],
    replay: Option<&Grid>,
) -> Result<Solution<T>, SolveError> {
    stepping.validate()?;
    check_state(dynamics.dim(), x0)?;
    check_times(0, times)?;
    let batch = x0.len() / dynamics.dim();
    let mut ws = StepWorkspace::new(scheme.stages(), x0.len(), dynamics.scratch_len(batch));
    let mut states = Trajectory::zeros(times.len() - 1, x0.len());
    let mut counters = Counters::default();
    if let (Stepping::Adaptive(adaptive), true, None) = (stepping, stepping.is_per_sample(), replay)
    {
        let sample_grids = PerSample {
            dynamics,
            scheme,
            adaptive,
            component: 0,
        }
        .run(times, x0, &mut states, &mut ws, &mut counters, None)?;
        return Ok(Solution {
            states,
            grid: Grid::default(),
            sample_grids,
            counters,
        });
    }
    let norm = state_norm::<T>(stepping);
    let fwd = Forward {
        scheme,
        stepping,
        component: 0,
        norm: &norm,
        what: "state",
        replay,
    };
    let grid = fwd.run(
        times,
        x0,
        &mut states,
        &mut Eval(dynamics),
        &mut ws,
        &mut counters,
    )?;
    Ok(Solution {
        states,
        grid,
        sample_grids: Vec::new(),
        counters,
    })
}
