//! [`TrainModel`]: what a [`Trainer`](super::Trainer) trains — one neural ODE (any
//! [`Dynamics`], wrapped in [`Single`]) or a chain of them sharing one flat parameter vector
//! ([`FlowChain`](super::FlowChain), FFJORD's multiscale image flow) — and the forward solve
//! of a chained [`Problem`] ([`solve_problem`]).

use symplode_runtime::grad::Problem;
use symplode_runtime::solver::{Solution, solve};
use symplode_runtime::{Dynamics, ParamTensor, Real, Scheme, SolveError, Stepping};

use super::{Batch, TrainError};

/// A model the trainer can fit: its flat parameter vector (what the optimiser updates and the
/// checkpoints store) and the [`Problem`] of a batch.
///
/// The trainer calls [`TrainModel::prepare`] with a batch (or shard) and then
/// [`TrainModel::problem`] with the same batch; the gradient it gets back, one vector per
/// component of the problem's chain, is concatenated in chain order and must line up with
/// [`TrainModel::params`].
pub trait TrainModel<T: Real> {
    /// Values per sample of a batch's `x0` rows (the rows the data give and shards cut;
    /// wider than the ODE state when the rows also carry e.g. Hutchinson probes).
    fn row_width(&self) -> usize;
    /// The flat parameter vector.
    fn params(&self) -> &[T];
    /// The flat parameter vector, mutable (the optimiser's step, a checkpoint's load).
    fn params_mut(&mut self) -> &mut [T];
    /// The named tensors covering [`TrainModel::params`] exactly, in order.
    fn param_tensors(&self) -> Vec<ParamTensor>;
    /// The model as one [`Dynamics`], when it is one.
    fn dynamics(&self) -> Option<&dyn Dynamics<T>>;
    /// Brings the model's evaluation state in line with its parameters and with `batch`
    /// (e.g. a chain copies its parameters into its blocks and takes the batch's probes).
    fn prepare(&mut self, batch: &Batch<T>) -> Result<(), TrainError>;
    /// The problem of `batch` (the one last given to [`TrainModel::prepare`]).
    fn problem<'s>(
        &'s self,
        batch: &'s Batch<T>,
        scheme: &'s Scheme<T>,
        stepping: Stepping,
    ) -> Problem<'s, T>;
}

/// One neural ODE as a [`TrainModel`]: the batch rows are its states, its times the batch's.
pub struct Single<'m, T: Real>(pub &'m mut dyn Dynamics<T>);

impl<T: Real> TrainModel<T> for Single<'_, T> {
    fn row_width(&self) -> usize {
        self.0.dim()
    }
    fn params(&self) -> &[T] {
        self.0.params()
    }
    fn params_mut(&mut self) -> &mut [T] {
        self.0.params_mut()
    }
    fn param_tensors(&self) -> Vec<ParamTensor> {
        self.0.param_tensors()
    }
    fn dynamics(&self) -> Option<&dyn Dynamics<T>> {
        Some(&*self.0)
    }
    fn prepare(&mut self, _batch: &Batch<T>) -> Result<(), TrainError> {
        Ok(())
    }
    fn problem<'s>(
        &'s self,
        batch: &'s Batch<T>,
        scheme: &'s Scheme<T>,
        stepping: Stepping,
    ) -> Problem<'s, T> {
        Problem::single(&*self.0, &batch.times, scheme, stepping, &batch.x0)
    }
}

/// One owned ODE as a [`TrainModel`] (e.g. a validation model given as [`Dynamics`]).
pub struct OwnedSingle<T: Real>(pub Box<dyn Dynamics<T>>);

impl<T: Real> TrainModel<T> for OwnedSingle<T> {
    fn row_width(&self) -> usize {
        self.0.dim()
    }
    fn params(&self) -> &[T] {
        self.0.params()
    }
    fn params_mut(&mut self) -> &mut [T] {
        self.0.params_mut()
    }
    fn param_tensors(&self) -> Vec<ParamTensor> {
        self.0.param_tensors()
    }
    fn dynamics(&self) -> Option<&dyn Dynamics<T>> {
        Some(&*self.0)
    }
    fn prepare(&mut self, _batch: &Batch<T>) -> Result<(), TrainError> {
        Ok(())
    }
    fn problem<'s>(
        &'s self,
        batch: &'s Batch<T>,
        scheme: &'s Scheme<T>,
        stepping: Stepping,
    ) -> Problem<'s, T> {
        Problem::single(&*self.0, &batch.times, scheme, stepping, &batch.x0)
    }
}

/// Plain forward solves of `problem`, component after component (each from the previous
/// one's final state), one [`Solution`] per component — what a validation loss or
/// `symplode solve` needs, without a gradient.
pub fn solve_problem<T: Real>(problem: &Problem<'_, T>) -> Result<Vec<Solution<T>>, SolveError> {
    problem.validate()?;
    let mut x = problem.x0.to_vec();
    let mut out = Vec::with_capacity(problem.chain.len());
    for c in &problem.chain {
        let sol = solve(c.dynamics, problem.scheme, &problem.stepping, &c.times, &x)?;
        if let Some(last) = sol.states.last() {
            x.copy_from_slice(last);
        }
        out.push(sol);
    }
    Ok(out)
}
