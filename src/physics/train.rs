//! Training as the paper does on the physical systems: from each sampled state `u_k`,
//! integrate one data interval `dt` with an adaptive solver and fit the next state `u_{k+1}`
//! (mean squared error). [`NextStatePairs`] is a [`Batches`] source for
//! [`crate::train::Trainer`] (Adam, any gradient method, progress bar, checkpoint/resume);
//! [`derivative_mse`], [`prediction_mse`] and [`rollout`] evaluate a model.

use symplode_runtime::rng::Rng;
use symplode_runtime::solver::solve;
use symplode_runtime::{Dynamics, Real, Scheme, SolveError, Stepping};

use super::dataset::Dataset;
use crate::train::{Batch, Batches, TrainError};

/// Mini-batches of (state, next state) pairs of the training trajectories: `batch_size`
/// distinct pairs `(traj, k)`, `k < states − 1`, drawn without replacement (DGNet's
/// `randperm(len)[:batch_size]`); `times = [0, dt]`, `x0 = u_k`, `targets = [u_{k+1}]`.
#[derive(Clone, Debug)]
pub struct NextStatePairs<'a, T> {
    data: &'a Dataset,
    trajectories: std::ops::Range<usize>,
    batch_size: usize,
    _t: std::marker::PhantomData<T>,
}

impl<'a, T: Real> NextStatePairs<'a, T> {
    /// Pairs of the training trajectories of `data`.
    ///
    /// # Errors
    /// [`TrainError::Data`] when the batch is empty or larger than the number of pairs.
    pub fn train(data: &'a Dataset, batch_size: usize) -> Result<Self, TrainError> {
        Self::new(data, 0..data.n_train, batch_size)
    }

    /// Pairs of the trajectories `trajectories` of `data`.
    ///
    /// # Errors
    /// As [`NextStatePairs::train`].
    pub fn new(
        data: &'a Dataset,
        trajectories: std::ops::Range<usize>,
        batch_size: usize,
    ) -> Result<Self, TrainError> {
        let pairs = trajectories.len() * data.states.saturating_sub(1);
        if trajectories.end > data.trajectories || batch_size == 0 || batch_size > pairs {
            return Err(TrainError::Data {
                what: "batch_size".into(),
                reason: format!(
                    "{batch_size}; need 1 ≤ batch_size ≤ {pairs} (the pairs of trajectories \
                     {trajectories:?} of {})",
                    data.trajectories
                ),
            });
        }
        Ok(NextStatePairs {
            data,
            trajectories,
            batch_size,
            _t: std::marker::PhantomData,
        })
    }

    /// The pairs `(traj, k)` of one batch drawn with `rng`.
    pub fn draw(&self, rng: &mut Rng) -> Vec<(usize, usize)> {
        let per = self.data.states - 1;
        let total = self.trajectories.len() * per;
        // Partial Fisher–Yates over the implicit index list, with the swaps kept in a map.
        let mut swapped = std::collections::HashMap::<usize, usize>::new();
        let mut out = Vec::with_capacity(self.batch_size);
        for i in 0..self.batch_size {
            let j = i + rng.below((total - i) as u64) as usize;
            let vi = *swapped.get(&i).unwrap_or(&i);
            let vj = *swapped.get(&j).unwrap_or(&j);
            swapped.insert(j, vi);
            out.push((self.trajectories.start + vj / per, vj % per));
        }
        out
    }
}

impl<T: Real> Batches<T> for NextStatePairs<'_, T> {
    fn dim(&self) -> usize {
        self.data.n()
    }

    fn batch(&self, rng: &mut Rng) -> Result<Batch<T>, TrainError> {
        let pairs = self.draw(rng);
        let gather = |dk: usize| -> Vec<T> {
            pairs
                .iter()
                .flat_map(|&(tr, k)| self.data.state(tr, k + dk).iter().map(|&v| T::of(v)))
                .collect()
        };
        Ok(Batch {
            times: vec![0.0, self.data.dt],
            x0: gather(0),
            targets: vec![gather(1)],
        })
    }
}

/// The states `(traj, k)` for `k = 0, stride, 2·stride, …` of the trajectories `range`.
pub fn strided_states(
    data: &Dataset,
    range: std::ops::Range<usize>,
    stride: usize,
) -> Vec<(usize, usize)> {
    let stride = stride.max(1);
    range
        .flat_map(|tr| (0..data.states).step_by(stride).map(move |k| (tr, k)))
        .collect()
}

/// Mean squared error of the model's `du/dt` against the exact derivative at the states
/// `at` (DGNet's test loss), evaluated in chunks of `chunk` states.
pub fn derivative_mse<T: Real>(
    model: &dyn Dynamics<T>,
    data: &Dataset,
    at: &[(usize, usize)],
    chunk: usize,
) -> f64 {
    let n = data.n();
    let mut sum = 0.0;
    for part in at.chunks(chunk.max(1)) {
        let x: Vec<T> = part
            .iter()
            .flat_map(|&(tr, k)| data.state(tr, k).iter().map(|&v| T::of(v)))
            .collect();
        let mut dx = vec![T::zero(); x.len()];
        let mut scratch = vec![T::zero(); model.scratch_len(part.len())];
        model.eval(T::zero(), &x, &mut dx, &mut scratch);
        for (i, &(tr, k)) in part.iter().enumerate() {
            for (p, e) in dx[i * n..][..n].iter().zip(data.derivative(tr, k)) {
                let r = p.f64() - e;
                sum += r * r;
            }
        }
    }
    sum / (at.len() * n).max(1) as f64
}

/// Mean squared error of the one-interval prediction from `u_k` against `u_{k+1}` over the
/// pairs `at` (each `k < states − 1`), in chunks of `chunk` pairs.
///
/// # Errors
/// A failed solve.
pub fn prediction_mse<T: Real>(
    model: &dyn Dynamics<T>,
    scheme: &Scheme<T>,
    stepping: &Stepping,
    data: &Dataset,
    at: &[(usize, usize)],
    chunk: usize,
) -> Result<f64, SolveError> {
    let n = data.n();
    let mut sum = 0.0;
    for part in at.chunks(chunk.max(1)) {
        let x0: Vec<T> = part
            .iter()
            .flat_map(|&(tr, k)| data.state(tr, k).iter().map(|&v| T::of(v)))
            .collect();
        let sol = solve(model, scheme, stepping, &[0.0, data.dt], &x0)?;
        for (i, &(tr, k)) in part.iter().enumerate() {
            for (p, e) in sol.states[0][i * n..][..n]
                .iter()
                .zip(data.state(tr, k + 1))
            {
                let r = p.f64() - e;
                sum += r * r;
            }
        }
    }
    Ok(sum / (at.len() * n).max(1) as f64)
}

/// The model's trajectory from `u0` over `steps` intervals of `dt`, output at every interval
/// (`[steps + 1, n]`, the first row `u0`).
///
/// # Errors
/// A failed solve.
pub fn rollout<T: Real>(
    model: &dyn Dynamics<T>,
    scheme: &Scheme<T>,
    stepping: &Stepping,
    u0: &[f64],
    dt: f64,
    steps: usize,
) -> Result<Vec<f64>, SolveError> {
    let x0: Vec<T> = u0.iter().map(|&v| T::of(v)).collect();
    let times: Vec<f64> = (0..=steps).map(|k| k as f64 * dt).collect();
    let sol = solve(model, scheme, stepping, &times, &x0)?;
    let mut out: Vec<f64> = u0.to_vec();
    for s in &sol.states {
        out.extend(s.iter().map(|v| v.f64()));
    }
    Ok(out)
}
