//! Mini-batches for trajectory fitting: [`Batch`], the [`Batches`] source trait, and
//! [`TrajectoryWindows`] (random short windows of one observed trajectory, as torchdiffeq's
//! `ode_demo.py` `get_batch`).

use symplode_runtime::Real;
use symplode_runtime::rng::Rng;
use symplode_runtime::solver::Trajectory;

use super::TrainError;

/// One mini-batch: start states, times, and the observed states at the output times.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch<T> {
    /// `times[0]` is the start; the model is compared with the data at `times[1..]`.
    pub times: Vec<f64>,
    /// Start states, `[batch·dim]` row-major.
    pub x0: Vec<T>,
    /// `targets[k]` are the observed states at `times[k + 1]`, each `[batch·dim]`.
    pub targets: Vec<Vec<T>>,
}

impl<T: Real> Batch<T> {
    /// Checks `x0` against the state dimension, that it is finite and that there is an output
    /// time (what a batch without targets, a flow's, needs); the error names the offending part.
    pub fn validate_states(&self, dim: usize) -> Result<(), TrainError> {
        let bad = |what: String, reason: String| Err(TrainError::Data { what, reason });
        if dim == 0 || self.x0.is_empty() || !self.x0.len().is_multiple_of(dim) {
            return bad(
                "x0".into(),
                format!(
                    "{} values is not a non-empty multiple of the state dimension {dim}",
                    self.x0.len()
                ),
            );
        }
        if self.times.len() < 2 {
            return bad(
                "times".into(),
                format!(
                    "need a start and at least one output time, got {}",
                    self.times.len()
                ),
            );
        }
        if let Some(i) = self.x0.iter().position(|v| !v.is_finite()) {
            return bad(format!("x0[{i}]"), format!("{} is not finite", self.x0[i]));
        }
        Ok(())
    }

    /// [`Batch::validate_states`] and the targets: one set per output time, each like `x0`,
    /// finite.
    pub fn validate(&self, dim: usize) -> Result<(), TrainError> {
        self.validate_states(dim)?;
        let bad = |what: String, reason: String| Err(TrainError::Data { what, reason });
        if self.targets.len() != self.times.len() - 1 {
            return bad(
                "targets".into(),
                format!(
                    "{} target sets for {} output times",
                    self.targets.len(),
                    self.times.len() - 1
                ),
            );
        }
        for (k, y) in self.targets.iter().enumerate() {
            if y.len() != self.x0.len() {
                return bad(
                    format!("targets[{k}]"),
                    format!("{} values, expected {} (like x0)", y.len(), self.x0.len()),
                );
            }
            if let Some(i) = y.iter().position(|v| !v.is_finite()) {
                return bad(
                    format!("targets[{k}][{i}]"),
                    format!("{} is not finite", y[i]),
                );
            }
        }
        Ok(())
    }
}

impl<T: Real> Batch<T> {
    /// The samples `range` (of state dimension `dim`) of this batch, at the same times.
    pub fn samples(&self, range: std::ops::Range<usize>, dim: usize) -> Batch<T> {
        let r = range.start * dim..range.end * dim;
        Batch {
            times: self.times.clone(),
            x0: self.x0[r.clone()].to_vec(),
            targets: self.targets.iter().map(|y| y[r.clone()].to_vec()).collect(),
        }
    }
}

/// A source of mini-batches. `batch` must depend only on the generator it is given, so that a
/// run is reproducible from its seed and resumable bit-identically.
pub trait Batches<T: Real> {
    /// State dimension of the batches.
    fn dim(&self) -> usize;
    /// Draws one mini-batch using `rng`.
    fn batch(&self, rng: &mut Rng) -> Result<Batch<T>, TrainError>;
}

/// Random windows of `window` consecutive points of one trajectory observed on a uniform time
/// grid. A batch starts `batch_size` distinct windows (drawn without replacement) at time 0:
/// `x0` are the windows' first states, `times = t[0..window] − t[0]`, and `targets[k]` are the
/// states `k + 1` points later.
#[derive(Clone, Debug, PartialEq)]
pub struct TrajectoryWindows<T> {
    times: Vec<f64>,
    states: Vec<T>,
    dim: usize,
    batch_size: usize,
    window: usize,
}

impl<T: Real> TrajectoryWindows<T> {
    /// Windows of `window` points (≥ 2) of the trajectory `states` (`[times.len()·dim]`), observed
    /// at the uniformly spaced, increasing `times`; `batch_size` windows per batch (at most the
    /// number of windows).
    pub fn new(
        times: Vec<f64>,
        states: Vec<T>,
        dim: usize,
        batch_size: usize,
        window: usize,
    ) -> Result<Self, TrainError> {
        let bad = |what: &str, reason: String| {
            Err(TrainError::Data {
                what: what.to_string(),
                reason,
            })
        };
        let n = times.len();
        if dim == 0 || states.len() != n.saturating_mul(dim) {
            return bad(
                "states",
                format!("{} values for {n} times of dimension {dim}", states.len()),
            );
        }
        if !(2..=n).contains(&window) {
            return bad("window", format!("{window} points; need 2 ≤ window ≤ {n}"));
        }
        let starts = n - window + 1;
        if batch_size == 0 || batch_size > starts {
            return bad(
                "batch_size",
                format!("{batch_size}; need 1 ≤ batch_size ≤ {starts} (the number of windows)"),
            );
        }
        let h = times[1] - times[0];
        for (i, w) in times.windows(2).enumerate() {
            let step = w[1] - w[0];
            if !(step.is_finite() && step > 0.0 && (step - h).abs() <= 1e-6 * h.abs()) {
                return bad(
                    &format!("times[{}]", i + 1),
                    format!(
                        "{} after {}: times must increase in equal steps ({h})",
                        w[1], w[0]
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
        Ok(TrajectoryWindows {
            times,
            states,
            dim,
            batch_size,
            window,
        })
    }

    /// The observation times.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// The observed states, `[times.len()·dim]`.
    pub fn states(&self) -> &[T] {
        &self.states
    }

    /// The state at observation `i`.
    fn state(&self, i: usize) -> &[T] {
        &self.states[i * self.dim..(i + 1) * self.dim]
    }
}

impl<T: Real> Batches<T> for TrajectoryWindows<T> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn batch(&self, rng: &mut Rng) -> Result<Batch<T>, TrainError> {
        let starts = self.times.len() - self.window + 1;
        // Partial Fisher–Yates: the first batch_size entries become a sample without replacement.
        let mut idx: Vec<usize> = (0..starts).collect();
        for i in 0..self.batch_size {
            let j = i + rng.below((starts - i) as u64) as usize;
            idx.swap(i, j);
        }
        let picks = &idx[..self.batch_size];
        let t0 = self.times[0];
        let times = self.times[..self.window].iter().map(|t| t - t0).collect();
        let gather = |k: usize| -> Vec<T> {
            picks
                .iter()
                .flat_map(|&s| self.state(s + k).iter().copied())
                .collect()
        };
        Ok(Batch {
            times,
            x0: gather(0),
            targets: (1..self.window).map(gather).collect(),
        })
    }
}

/// The data term comparing predicted states with the targets at every output time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Loss {
    /// Mean squared error over every output time, sample and feature.
    #[default]
    Mse,
    /// Mean absolute error (what torchdiffeq's `ode_demo.py` uses); its gradient is the sign.
    L1,
    /// A flow's negative log-likelihood `−mean log p(x)` in nats at the last output time,
    /// for samples of dimension `dim` (see [`super::flow`]); batches carry no targets.
    Nll {
        /// The sample dimension (the state is `[z, Δlogp, …]`).
        dim: usize,
    },
}

impl Loss {
    /// A short name, `"mse"` or `"l1"`.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::L1 => "l1",
            Loss::Nll { .. } => "nll",
        }
    }

    /// The number of values a batch's mean is taken over: samples for [`Loss::Nll`], target
    /// values otherwise.
    pub fn count<T>(&self, batch: &Batch<T>, width: usize) -> usize {
        match self {
            Loss::Nll { .. } => batch.x0.len() / width.max(1),
            _ => batch.targets.iter().map(Vec::len).sum(),
        }
    }

    /// As [`Loss::evaluate_with_count`], for states of `width` values per sample (what
    /// [`Loss::Nll`] needs to find the rows).
    pub fn evaluate_rows<T: Real>(
        &self,
        predicted: &Trajectory<T>,
        targets: &[Vec<T>],
        cotangent: &mut Trajectory<T>,
        count: usize,
        width: usize,
    ) -> f64 {
        match *self {
            Loss::Nll { dim } => {
                let (Some(last), Some(c)) = (predicted.last(), cotangent.last_mut()) else {
                    return f64::NAN;
                };
                // dim 0 is the run file's placeholder before the model is known: never a loss.
                if dim == 0 || width <= dim {
                    return f64::NAN;
                }
                super::flow::nll_contribution(last, width, dim, count, c)
            }
            _ => self.evaluate_with_count(predicted, targets, cotangent, count),
        }
    }

    /// The loss of `predicted` against `targets` (both `[output k][batch·dim]`), writing
    /// ∂L/∂predicted into `cotangent` (same shape).
    pub fn evaluate<T: Real>(
        &self,
        predicted: &Trajectory<T>,
        targets: &[Vec<T>],
        cotangent: &mut Trajectory<T>,
    ) -> f64 {
        let count = predicted.as_slice().len();
        self.evaluate_with_count(predicted, targets, cotangent, count)
    }

    /// As [`Loss::evaluate`], but the mean is taken over `count` values (the size of a whole
    /// batch of which `predicted` is one shard), so shard losses and gradients add up to the
    /// batch's. NaN for [`Loss::Nll`], which needs [`Loss::evaluate_rows`].
    pub fn evaluate_with_count<T: Real>(
        &self,
        predicted: &Trajectory<T>,
        targets: &[Vec<T>],
        cotangent: &mut Trajectory<T>,
        count: usize,
    ) -> f64 {
        let scale = 1.0 / count.max(1) as f64;
        let mut sum = 0.0;
        for ((p, y), c) in predicted.iter().zip(targets).zip(cotangent.iter_mut()) {
            for ((&p, &y), c) in p.iter().zip(y).zip(c.iter_mut()) {
                let r = p.f64() - y.f64();
                match self {
                    Loss::Mse => {
                        sum += r * r;
                        *c = T::of(2.0 * r * scale);
                    }
                    Loss::L1 => {
                        sum += r.abs();
                        let s = if r > 0.0 {
                            1.0
                        } else if r < 0.0 {
                            -1.0
                        } else {
                            0.0
                        };
                        *c = T::of(s * scale);
                    }
                    // Rows unknown here: `evaluate_rows` computes it.
                    Loss::Nll { .. } => return f64::NAN,
                }
            }
        }
        sum * scale
    }
}
