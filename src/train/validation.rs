//! Held-out data: [`TrajectorySet`] (windows of several observed trajectories, with a seeded
//! validation split), the validation loss every few iterations and [`EarlyStopping`].
//!
//! The early-stopping state (best validation loss, its iteration, whether the run stopped) is
//! stored in every checkpoint's configuration (`early_stopping`, the loss as its bit pattern),
//! so a resumed run stops exactly where an uninterrupted one does.

use symplode_runtime::grad::Problem;
use symplode_runtime::rng::Rng;
use symplode_runtime::solver::Trajectory;
use symplode_runtime::{Dynamics, Real};

use super::model::solve_problem;
use super::{Batch, Batches, IterationLog, Loss, OwnedSingle, TrainError, TrainModel, Trainer};

/// Stop when the validation loss has not improved by more than `min_delta` for `patience`
/// iterations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    /// Iterations without improvement before stopping (≥ 1).
    pub patience: u64,
    /// The improvement that counts, ≥ 0.
    pub min_delta: f64,
}

/// The validation data and state of a run.
pub(super) struct Validation<T: Real> {
    batch: Batch<T>,
    /// The model the validation loss is computed with (the training model's parameters are
    /// copied in first), when it differs from the training model (a flow's exact trace).
    model: Option<Box<dyn TrainModel<T>>>,
    every: u64,
    early: Option<EarlyStopping>,
    best: f64,
    best_iteration: u64,
    stopped: bool,
}

impl<T: Real> Validation<T> {
    /// The state as stored in checkpoints.
    pub(super) fn state_json(&self) -> serde_json::Value {
        serde_json::json!({
            "best_bits": self.best.to_bits(),
            "best": if self.best.is_finite() { Some(self.best) } else { None },
            "best_iteration": self.best_iteration,
            "stopped": self.stopped,
        })
    }

    /// Takes the state back from a checkpoint's configuration (absent: a fresh state).
    pub(super) fn restore(&mut self, config: &serde_json::Value) {
        let s = &config["early_stopping"];
        self.best = s["best_bits"]
            .as_u64()
            .map_or(f64::INFINITY, f64::from_bits);
        self.best_iteration = s["best_iteration"].as_u64().unwrap_or(0);
        self.stopped = s["stopped"].as_bool().unwrap_or(false);
    }
}

impl<'a, T: Real> Trainer<'a, T> {
    /// Evaluates the loss on `batch` (a forward solve, no gradient) every `every` iterations,
    /// recording it as [`IterationLog::val_loss`], and stops early as `early` says. Call before
    /// [`Trainer::resume`] (which restores the early-stopping state).
    pub fn with_validation(
        mut self,
        batch: Batch<T>,
        every: u64,
        early: Option<EarlyStopping>,
    ) -> Result<Self, TrainError> {
        if every == 0 {
            return Err(TrainError::Config {
                field: "validation.every",
                reason: "0; must be ≥ 1".into(),
            });
        }
        if let Some(e) = early {
            if e.patience == 0 {
                return Err(TrainError::Config {
                    field: "early_stopping.patience",
                    reason: "0; must be ≥ 1".into(),
                });
            }
            if !(e.min_delta.is_finite() && e.min_delta >= 0.0) {
                return Err(TrainError::Config {
                    field: "early_stopping.min_delta",
                    reason: format!("{}; must be finite and ≥ 0", e.min_delta),
                });
            }
        }
        self.validation = Some(Validation {
            batch,
            model: None,
            every,
            early,
            best: f64::INFINITY,
            best_iteration: 0,
            stopped: false,
        });
        Ok(self)
    }

    /// Computes the validation loss with `model` (same parameters as the training model,
    /// copied in before every evaluation; e.g. a flow with the exact trace) instead of the
    /// training model; the validation batch must fit it. Call after
    /// [`Trainer::with_validation`].
    pub fn with_validation_model(
        mut self,
        model: Box<dyn Dynamics<T>>,
    ) -> Result<Self, TrainError> {
        let Some(v) = &mut self.validation else {
            return Err(TrainError::Config {
                field: "validation",
                reason: "a validation model needs validation data first".into(),
            });
        };
        v.model = Some(Box::new(OwnedSingle(model)));
        Ok(self)
    }

    /// As [`Trainer::with_validation_model`] for any [`TrainModel`] (e.g. a tabular flow's
    /// chain with the exact trace, [`FlowChain::exact`](super::FlowChain::exact)): it gets the
    /// training model's parameters, [`TrainModel::prepare`] with the validation batch, and
    /// its problem gives the loss.
    pub fn with_validation_train_model(
        mut self,
        model: Box<dyn TrainModel<T>>,
    ) -> Result<Self, TrainError> {
        let Some(v) = &mut self.validation else {
            return Err(TrainError::Config {
                field: "validation",
                reason: "a validation model needs validation data first".into(),
            });
        };
        v.model = Some(model);
        Ok(self)
    }

    /// Whether early stopping has ended the run.
    pub fn stopped_early(&self) -> bool {
        self.validation.as_ref().is_some_and(|v| v.stopped)
    }

    /// The validation loss of `model` (`None` without validation data; the validation model,
    /// when one was given, as it stands).
    pub fn validation_loss(&mut self, model: &dyn Dynamics<T>) -> Result<Option<f64>, TrainError> {
        let Some(mut v) = self.validation.take() else {
            return Ok(None);
        };
        let b = &v.batch;
        let loss = match v.model.as_deref_mut() {
            Some(m) => m.prepare(b).and_then(|()| {
                let problem = m.problem(b, self.scheme, self.stepping.clone());
                self.loss_of(&problem, b, m.row_width())
            }),
            None => {
                let problem =
                    Problem::single(model, &b.times, self.scheme, self.stepping.clone(), &b.x0);
                self.loss_of(&problem, b, model.dim())
            }
        };
        self.validation = Some(v);
        loss.map(Some)
    }

    /// The loss of `b` (rows of `row_width` values) by a forward solve of `problem` (the
    /// batch's problem), read from its last component's outputs.
    fn loss_of(
        &self,
        problem: &Problem<'_, T>,
        b: &Batch<T>,
        row_width: usize,
    ) -> Result<f64, TrainError> {
        let loss = self.config.loss;
        match loss {
            Loss::Nll { .. } => b.validate_states(row_width)?,
            _ => b.validate(row_width)?,
        }
        let it = self.iteration;
        let outputs = solve_problem(problem).map_err(|source| TrainError::Solve {
            iteration: it,
            source,
        })?;
        let Some(last) = outputs.last().map(|s| &s.states) else {
            return Ok(f64::NAN);
        };
        let mut cot = Trajectory::zeros(last.len(), last.state_len());
        let count = loss.count(b, row_width);
        Ok(loss.evaluate_rows(last, &b.targets, &mut cot, count, problem.dim()))
    }

    /// After an update: the validation loss and the early-stopping decision, when due.
    pub(super) fn validate_after(
        &mut self,
        model: &mut dyn TrainModel<T>,
        mut record: IterationLog,
    ) -> Result<IterationLog, TrainError> {
        let due = self
            .validation
            .as_ref()
            .is_some_and(|v| self.iteration.is_multiple_of(v.every));
        if !due {
            return Ok(record);
        }
        if let Some(Validation { model: Some(m), .. }) = &mut self.validation {
            if m.params().len() != model.params().len() {
                return Err(TrainError::Config {
                    field: "validation model",
                    reason: format!(
                        "{} parameters, the training model has {}",
                        m.params().len(),
                        model.params().len()
                    ),
                });
            }
            m.params_mut().copy_from_slice(model.params());
        }
        let Some(mut v) = self.validation.take() else {
            return Ok(record);
        };
        let b = &v.batch;
        let loss = match v.model.as_deref_mut() {
            Some(m) => m.prepare(b).and_then(|()| {
                let problem = m.problem(b, self.scheme, self.stepping.clone());
                self.loss_of(&problem, b, m.row_width())
            }),
            None => model.prepare(b).and_then(|()| {
                let problem = model.problem(b, self.scheme, self.stepping.clone());
                self.loss_of(&problem, b, model.row_width())
            }),
        };
        self.validation = Some(v);
        let loss = loss?;
        record.val_loss = Some(loss);
        let it = self.iteration;
        if let Some(v) = &mut self.validation {
            let delta = v.early.map_or(0.0, |e| e.min_delta);
            if loss < v.best - delta {
                v.best = loss;
                v.best_iteration = it;
            } else if let Some(e) = v.early
                && it - v.best_iteration >= e.patience
            {
                v.stopped = true;
            }
        }
        Ok(record)
    }
}

/// Windows of `window` consecutive observations of `n` trajectories observed at the same `K`
/// times (`states` `[K, n, dim]`, as `symplode solve` writes). A batch draws `batch_size`
/// distinct (trajectory, start) windows; with `window = K` the times are used as given, shorter
/// windows need uniformly spaced times and start at 0.
#[derive(Clone, Debug, PartialEq)]
pub struct TrajectorySet<T> {
    times: Vec<f64>,
    states: Vec<T>,
    n: usize,
    dim: usize,
    window: usize,
    batch_size: usize,
    windows: Vec<(usize, usize)>,
}

impl<T: Real> TrajectorySet<T> {
    /// The set of all windows; errors name the offending part (`states`, `times[i]`, `window`,
    /// `batch`).
    pub fn new(
        times: Vec<f64>,
        states: Vec<T>,
        n: usize,
        dim: usize,
        window: usize,
        batch_size: usize,
    ) -> Result<Self, TrainError> {
        let bad = |what: &str, reason: String| {
            Err(TrainError::Data {
                what: what.to_string(),
                reason,
            })
        };
        let k = times.len();
        if n == 0 || dim == 0 || states.len() != k * n * dim {
            return bad(
                "states",
                format!(
                    "{} values for {k} times × {n} trajectories × dimension {dim}",
                    states.len()
                ),
            );
        }
        if !(2..=k).contains(&window) {
            return bad(
                "window",
                format!("{window}; need 2 ≤ window ≤ {k} (the times)"),
            );
        }
        let h = times[1] - times[0];
        for (i, w) in times.windows(2).enumerate() {
            let step = w[1] - w[0];
            let uniform = (step - h).abs() <= 1e-6 * h.abs();
            if !(w[0].is_finite() && step.is_finite() && step > 0.0 && (window == k || uniform)) {
                return bad(
                    &format!("times[{}]", i + 1),
                    format!(
                        "{} after {}: times must increase{}",
                        w[1],
                        w[0],
                        if window < k {
                            format!(" in equal steps ({h}) when window < {k}")
                        } else {
                            String::new()
                        }
                    ),
                );
            }
        }
        if let Some(i) = states.iter().position(|v| !v.is_finite()) {
            return bad(
                &format!("states[{i}]"),
                format!("{} is not finite", states[i]),
            );
        }
        let windows: Vec<(usize, usize)> = (0..n)
            .flat_map(|j| (0..=k - window).map(move |s| (j, s)))
            .collect();
        let set = TrajectorySet {
            times,
            states,
            n,
            dim,
            window,
            batch_size,
            windows,
        };
        set.check_batch()?;
        Ok(set)
    }

    fn check_batch(&self) -> Result<(), TrainError> {
        if self.batch_size == 0 || self.batch_size > self.windows.len() {
            return Err(TrainError::Data {
                what: "batch".into(),
                reason: format!(
                    "{}; need 1 ≤ batch ≤ {} (the training windows)",
                    self.batch_size,
                    self.windows.len()
                ),
            });
        }
        Ok(())
    }

    /// The number of windows batches are drawn from.
    pub fn windows(&self) -> usize {
        self.windows.len()
    }

    /// Moves a seeded random `fraction` of the windows out into a validation batch: whole
    /// trajectories when there are several, else windows of the one trajectory (which then
    /// share observations with training windows). Returns the validation batch.
    pub fn split_validation(&mut self, fraction: f64, seed: u64) -> Result<Batch<T>, TrainError> {
        let bad = |reason: String| {
            Err(TrainError::Config {
                field: "validation.fraction",
                reason,
            })
        };
        if !(fraction.is_finite() && fraction > 0.0 && fraction < 1.0) {
            return bad(format!("{fraction}; must be in (0, 1)"));
        }
        let mut rng = Rng::new(seed ^ 0x05EE_D0F7_A11D);
        let units = if self.n >= 2 {
            self.n
        } else {
            self.windows.len()
        };
        let mut order: Vec<usize> = (0..units).collect();
        for i in (1..units).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let m = ((fraction * units as f64).round() as usize).clamp(1, units - 1);
        let mut held = vec![false; units];
        for &u in &order[..m] {
            held[u] = true;
        }
        let by_trajectory = self.n >= 2;
        let (val, train): (Vec<_>, Vec<_>) = self
            .windows
            .iter()
            .enumerate()
            .partition(|(i, (j, _))| held[if by_trajectory { *j } else { *i }]);
        let val: Vec<(usize, usize)> = val.into_iter().map(|(_, w)| *w).collect();
        self.windows = train.into_iter().map(|(_, w)| *w).collect();
        if self.check_batch().is_err() {
            return bad(format!(
                "{fraction} leaves {} training windows, fewer than the batch ({})",
                self.windows.len(),
                self.batch_size
            ));
        }
        Ok(self.gather(&val))
    }

    /// The batch of the given (trajectory, start) windows.
    fn gather(&self, picks: &[(usize, usize)]) -> Batch<T> {
        let d = self.dim;
        let at = |k: usize, j: usize| &self.states[(k * self.n + j) * d..(k * self.n + j + 1) * d];
        let take = |k: usize| -> Vec<T> {
            picks
                .iter()
                .flat_map(|&(j, s)| at(s + k, j).iter().copied())
                .collect()
        };
        let times = if self.window == self.times.len() {
            self.times.clone()
        } else {
            let t0 = self.times[0];
            self.times[..self.window].iter().map(|t| t - t0).collect()
        };
        Batch {
            times,
            x0: take(0),
            targets: (1..self.window).map(take).collect(),
        }
    }
}

impl<T: Real> Batches<T> for TrajectorySet<T> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn batch(&self, rng: &mut Rng) -> Result<Batch<T>, TrainError> {
        let n = self.windows.len();
        let mut idx: Vec<usize> = (0..n).collect();
        for i in 0..self.batch_size {
            let j = i + rng.below((n - i) as u64) as usize;
            idx.swap(i, j);
        }
        let picks: Vec<(usize, usize)> = idx[..self.batch_size]
            .iter()
            .map(|&i| self.windows[i])
            .collect();
        Ok(self.gather(&picks))
    }
}
