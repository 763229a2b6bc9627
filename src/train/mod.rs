//! Training a neural ODE on mini-batches — one ODE, or a chain of ODEs with one parameter
//! vector ([`TrainModel`], e.g. FFJORD's multiscale image flow [`FlowChain`]): any
//! [`GradientMethod`], losses at several output times, an optimiser from
//! [`symplode_runtime::optim`], a progress bar, a JSON-lines log and atomic checkpoints that
//! resume bit-identically.
//!
//! ```
//! use symplode::prelude::*;
//! use symplode::runtime::optim::{Adam, AdamConfig};
//! use symplode::train::{TrainConfig, Trainer, TrajectoryWindows};
//!
//! // Observations of x' = −x on a uniform grid, fitted by a tiny MLP.
//! let times: Vec<f64> = (0..40).map(|i| 0.05 * i as f64).collect();
//! let states: Vec<f64> = times.iter().map(|t| (-t).exp()).collect();
//! let data = TrajectoryWindows::new(times, states, 1, 8, 5)?;
//! let mut net = Mlp::<f64>::new(MlpConfig::new(1, vec![8], Activation::Tanh, false), 0)?;
//! let scheme = Scheme::<f64>::builtin("rk4")?;
//! let adam = Adam::new(AdamConfig { lr: 0.02, ..AdamConfig::default() })?;
//! let config = TrainConfig { iterations: 30, ..TrainConfig::default() };
//! let mut trainer = Trainer::new(&SymplecticAdjoint, &scheme, Stepping::fixed(2), adam, config)?;
//! let summary = trainer.run(&mut net, &data)?;
//! assert!(summary.history.last().unwrap().loss < summary.history[0].loss);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Determinism.** The batch of iteration `i` is drawn from its own generator,
//! `Rng::new(batch_seed(seed, i))`, so a run is a pure function of its seed, and a checkpoint
//! needs only the seed and the iteration count to continue the random stream. Parameters,
//! optimiser moments and the base learning rate are stored exactly; 20 iterations in one go
//! and 10 + resume + 10 give bit-identical parameters.

mod checkpoint;
mod data;
mod error;
pub mod flow;
mod flow_chain;
#[cfg(feature = "model-files")]
mod flow_spec;
mod log;
mod model;
#[cfg(feature = "mpi")]
mod mpi;
mod reversed;
#[cfg(feature = "model-files")]
mod run_config;
#[cfg(feature = "model-files")]
mod run_data;
mod shard;
mod spiral;
pub mod toy;
mod validation;

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use checkpoint::{
    CheckpointMeta, FORMAT, META_FILE, OptimizerMeta, Restored, RngState, TensorInfo, VERSION,
    read_meta, write_atomic,
};
pub use data::{Batch, Batches, Loss, TrajectoryWindows};
pub use error::TrainError;
pub use flow_chain::FlowChain;
#[cfg(feature = "model-files")]
pub use flow_spec::{FlowSpec, is_flow_file, is_flow_model_file};
pub use log::{BitsPerDim, IterationLog};
pub use model::{OwnedSingle, Single, TrainModel, solve_problem};
#[cfg(feature = "mpi")]
pub use mpi::MpiCollective;
pub use reversed::Reversed;
#[cfg(feature = "model-files")]
pub use run_config::{DataSource, OptimizerChoice, RunConfig};
pub use shard::{Collective, Combine, SingleProcess, check_split, owned_shards, shard_ranges};
pub use spiral::spiral_trajectory;
pub use validation::{EarlyStopping, TrajectorySet};

use symplode_runtime::grad::GradientMethod;
use symplode_runtime::optim::{LrSchedule, Optimizer, clip_grad_norm, global_norm};
use symplode_runtime::rng::Rng;
use symplode_runtime::{Dynamics, Real, Scheme, Stepping};

use crate::io::budget::MemoryBudget;

/// How the per-iteration random streams are derived (recorded in checkpoints).
pub const RNG_ALGORITHM: &str =
    "xoshiro256** per iteration: Rng::new(mix(mix(seed) ^ iteration)), mix = SplitMix64 finaliser";

/// The SplitMix64 finaliser (a bijection of u64).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of iteration `iteration`'s (0-based) batch generator in a run seeded with `seed`;
/// distinct iterations of one run get distinct seeds.
pub fn batch_seed(seed: u64, iteration: u64) -> u64 {
    mix(mix(seed) ^ iteration)
}

/// Options of a training run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Total iterations (a resumed run continues up to this count).
    pub iterations: u64,
    /// Seed of the mini-batch streams.
    pub seed: u64,
    /// The data term.
    pub loss: Loss,
    /// Learning-rate schedule over iterations, applied to the optimiser's initial rate.
    pub schedule: LrSchedule,
    /// Clip the gradient to this global norm before each update.
    pub clip_norm: Option<f64>,
    /// Show an indicatif progress bar on stderr.
    pub progress: bool,
    /// Write one JSON line per iteration here.
    pub log_path: Option<PathBuf>,
    /// Write checkpoints into this directory (at the end, and every `checkpoint_every`).
    pub checkpoint_dir: Option<PathBuf>,
    /// Iterations between checkpoints (0: only at the end).
    pub checkpoint_every: u64,
    /// Anything else to record in the checkpoint metadata (e.g. the model's configuration).
    pub extra: serde_json::Value,
    /// Each iteration's predicted peak memory is checked against this before it runs
    /// (`None`: 3/4 of the machine's memory); see [`crate::io::budget`].
    pub memory_budget: Option<MemoryBudget>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            iterations: 100,
            seed: 0,
            loss: Loss::Mse,
            schedule: LrSchedule::Constant,
            clip_norm: None,
            progress: false,
            log_path: None,
            checkpoint_dir: None,
            checkpoint_every: 0,
            extra: serde_json::Value::Null,
            memory_budget: None,
        }
    }
}

/// What [`Trainer::run`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSummary {
    /// Iterations completed before this run (non-zero after a resume).
    pub start_iteration: u64,
    /// Iterations completed at the end.
    pub iterations: u64,
    /// One record per iteration of this run.
    pub history: Vec<IterationLog>,
    /// Wall time of the run, seconds.
    pub seconds: f64,
    /// The largest peak the runtime counted in any iteration.
    pub peak_bytes: usize,
    /// The last checkpoint written (its `checkpoint.json`).
    pub checkpoint: Option<PathBuf>,
}

impl TrainSummary {
    /// The loss of the last iteration (NaN when none ran).
    pub fn final_loss(&self) -> f64 {
        self.history.last().map_or(f64::NAN, |r| r.loss)
    }
}

/// Trains one neural ODE `dx/dt = f(x, t; θ)` by fitting [`Batch`]es.
pub struct Trainer<'a, T: Real> {
    method: &'a dyn GradientMethod<T>,
    scheme: &'a Scheme<T>,
    stepping: Stepping,
    optimizer: Box<dyn Optimizer<T> + 'a>,
    config: TrainConfig,
    iteration: u64,
    base_lr: f64,
    budget: MemoryBudget,
    shards: usize,
    collective: &'a dyn Collective,
    validation: Option<validation::Validation<T>>,
    comm_seconds: std::cell::Cell<f64>,
    bits: Option<BitsPerDim>,
}

impl<'a, T: Real> Trainer<'a, T> {
    /// A trainer at iteration 0; the optimiser's learning rate is the schedule's base rate.
    /// Fails when the stepping, schedule or clipping threshold is invalid.
    pub fn new(
        method: &'a dyn GradientMethod<T>,
        scheme: &'a Scheme<T>,
        stepping: Stepping,
        optimizer: impl Optimizer<T> + 'a,
        config: TrainConfig,
    ) -> Result<Self, TrainError> {
        stepping.validate().map_err(|source| TrainError::Solve {
            iteration: 0,
            source,
        })?;
        let base_lr = optimizer.lr();
        config
            .schedule
            .validate(base_lr)
            .map_err(|source| TrainError::Optim {
                iteration: 0,
                source,
            })?;
        if let Some(c) = config.clip_norm
            && !(c.is_finite() && c > 0.0)
        {
            return Err(TrainError::Config {
                field: "clip_norm",
                reason: format!("{c}; must be finite and > 0"),
            });
        }
        let budget = config
            .memory_budget
            .clone()
            .unwrap_or_else(MemoryBudget::machine_default);
        Ok(Trainer {
            method,
            scheme,
            stepping,
            optimizer: Box::new(optimizer),
            config,
            iteration: 0,
            base_lr,
            budget,
            shards: 1,
            collective: &SingleProcess,
            validation: None,
            comm_seconds: std::cell::Cell::new(0.0),
            bits: None,
        })
    }

    /// Cuts every batch into `shards` shards whose gradients are summed in shard order (see
    /// [`Collective`]); 1 (the default) is the whole batch at once.
    pub fn with_shards(mut self, shards: usize) -> Result<Self, TrainError> {
        shard::check_split(shards, self.collective.size())?;
        self.shards = shards;
        Ok(self)
    }

    /// Shares the shards of every batch among the processes of `collective`; only rank 0
    /// writes the log and the checkpoints. The shard count must be a multiple of the process
    /// count.
    pub fn with_collective(mut self, collective: &'a dyn Collective) -> Result<Self, TrainError> {
        shard::check_split(self.shards, collective.size())?;
        self.collective = collective;
        Ok(self)
    }

    /// Also reports the losses of an image flow in bits/dim (log records and progress bar).
    pub fn with_bits_per_dim(mut self, bits: BitsPerDim) -> Self {
        self.bits = Some(bits);
        self
    }

    /// The number of shards of every batch.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Iterations completed.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// The optimiser.
    pub fn optimizer(&self) -> &dyn Optimizer<T> {
        &*self.optimizer
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The run configuration as recorded in checkpoints.
    pub fn describe(&self) -> serde_json::Value {
        let c = &self.config;
        serde_json::json!({
            "method": self.method.name(),
            "tableau": self.scheme.name(),
            "stepping": format!("{:?}", self.stepping),
            "dtype": T::NAME,
            "loss": c.loss.name(),
            "schedule": format!("{:?}", c.schedule),
            "clip_norm": c.clip_norm,
            "iterations": c.iterations,
            "checkpoint_every": c.checkpoint_every,
            "shards": self.shards,
            "early_stopping": self.validation.as_ref().map(validation::Validation::state_json),
            "extra": c.extra,
        })
    }

    /// One update on `batch`: forward and backward sweeps with the gradient method, loss at
    /// every output time, optional clipping, one optimiser step. Returns the iteration's record.
    pub fn step(
        &mut self,
        model: &mut dyn Dynamics<T>,
        batch: &Batch<T>,
    ) -> Result<IterationLog, TrainError> {
        self.step_model(&mut Single(model), batch)
    }

    /// [`Trainer::step`] for any [`TrainModel`] (e.g. a [`FlowChain`]).
    pub fn step_model(
        &mut self,
        model: &mut dyn TrainModel<T>,
        batch: &Batch<T>,
    ) -> Result<IterationLog, TrainError> {
        let width = model.row_width();
        match self.config.loss {
            Loss::Nll { .. } => batch.validate_states(width)?,
            _ => batch.validate(width)?,
        }
        let it = self.iteration + 1;
        let optim = |source| TrainError::Optim {
            iteration: it,
            source,
        };
        let lr = self.config.schedule.lr(self.base_lr, self.iteration);
        self.optimizer.set_lr(lr).map_err(optim)?;
        let start = Instant::now();
        let (loss, stats, grad64) = self.sharded_gradient(model, batch, it)?;
        if !loss.is_finite() {
            return Err(TrainError::NonFiniteLoss {
                iteration: it,
                value: loss,
            });
        }
        let mut grad: Vec<T> = grad64.into_iter().map(T::of).collect();
        let grad_norm = match self.config.clip_norm {
            Some(c) => clip_grad_norm(&mut grad, c),
            None => global_norm(&grad),
        }
        .map_err(optim)?;
        self.optimizer
            .step(model.params_mut(), &grad)
            .map_err(optim)?;
        checkpoint::check_finite_state(
            model.params(),
            || model.param_tensors(),
            &*self.optimizer,
            it,
        )?;
        self.iteration = it;
        let seconds = start.elapsed().as_secs_f64();
        let mut record = IterationLog::new(it, loss, lr, grad_norm, &stats, seconds);
        record.samples = batch.x0.len() / width.max(1);
        record.comm_seconds = self.comm_seconds.get();
        Ok(record)
    }

    /// Trains until [`TrainConfig::iterations`] are done, drawing iteration `i`'s batch from
    /// `Rng::new(batch_seed(seed, i))`, logging, showing progress and checkpointing as
    /// configured.
    pub fn run(
        &mut self,
        model: &mut dyn Dynamics<T>,
        data: &dyn Batches<T>,
    ) -> Result<TrainSummary, TrainError> {
        self.run_with(model, data, &mut |_, _| {})
    }

    /// As [`Trainer::run`], calling `on_iteration` with each iteration's record and the updated
    /// model (with the progress bar hidden meanwhile, so the callback may print).
    pub fn run_with(
        &mut self,
        model: &mut dyn Dynamics<T>,
        data: &dyn Batches<T>,
        on_iteration: &mut dyn FnMut(&IterationLog, &dyn Dynamics<T>),
    ) -> Result<TrainSummary, TrainError> {
        self.run_model(&mut Single(model), data, &mut |r, m| {
            if let Some(d) = m.dynamics() {
                on_iteration(r, d);
            }
        })
    }

    /// As [`Trainer::run_with`], for any [`TrainModel`] (e.g. a [`FlowChain`]): the data's
    /// rows must be the model's [`TrainModel::row_width`] wide.
    pub fn run_model(
        &mut self,
        model: &mut dyn TrainModel<T>,
        data: &dyn Batches<T>,
        on_iteration: &mut dyn FnMut(&IterationLog, &dyn TrainModel<T>),
    ) -> Result<TrainSummary, TrainError> {
        if data.dim() != model.row_width() {
            return Err(TrainError::Data {
                what: "dimension".into(),
                reason: format!(
                    "the data has dimension {}, the model {}",
                    data.dim(),
                    model.row_width()
                ),
            });
        }
        let start = Instant::now();
        let start_iteration = self.iteration;
        // Only rank 0 writes (the other ranks hold the same numbers).
        let root = self.collective.rank() == 0;
        let mut log = match &self.config.log_path {
            Some(p) if root => Some(log::JsonLines::open(p, self.iteration)?),
            _ => None,
        };
        let total = self.config.iterations;
        let bar = log::progress_bar(
            self.config.progress && root,
            total,
            self.iteration.min(total),
        );
        let mut summary = TrainSummary {
            start_iteration,
            iterations: self.iteration,
            history: Vec::new(),
            seconds: 0.0,
            peak_bytes: 0,
            checkpoint: None,
        };
        let mut saved_at = None;
        while self.iteration < total && !self.stopped_early() {
            let mut rng = Rng::new(batch_seed(self.config.seed, self.iteration));
            let batch = data.batch(&mut rng)?;
            let record = match self
                .step_model(model, &batch)
                .and_then(|r| self.validate_after(model, r))
            {
                Ok(mut r) => {
                    if let Some(b) = &self.bits {
                        b.annotate(&mut r);
                    }
                    r
                }
                Err(e) => {
                    bar.abandon();
                    return Err(e);
                }
            };
            if let Some(log) = &mut log {
                log.write(&record)?;
            }
            summary.peak_bytes = summary.peak_bytes.max(record.peak_bytes);
            bar.set_position(self.iteration);
            bar.set_message(log::progress_message(&record, summary.peak_bytes));
            bar.suspend(|| on_iteration(&record, &*model));
            summary.history.push(record);
            let every = self.config.checkpoint_every;
            if let Some(dir) = self.config.checkpoint_dir.clone()
                && root
                && every > 0
                && self.iteration.is_multiple_of(every)
            {
                summary.checkpoint = Some(self.save_model_checkpoint(&*model, &dir)?);
                saved_at = Some(self.iteration);
            }
        }
        if let Some(dir) = self.config.checkpoint_dir.clone()
            && root
            && saved_at != Some(self.iteration)
        {
            summary.checkpoint = Some(self.save_model_checkpoint(&*model, &dir)?);
        }
        bar.finish();
        summary.iterations = self.iteration;
        summary.seconds = start.elapsed().as_secs_f64();
        Ok(summary)
    }

    /// Writes a checkpoint of `model` and the optimiser into `dir` (each file written to a
    /// temporary file, synced and renamed into place; see [`CheckpointMeta`]); returns the path
    /// of its `checkpoint.json`.
    pub fn save_checkpoint(
        &self,
        model: &dyn Dynamics<T>,
        dir: &Path,
    ) -> Result<PathBuf, TrainError> {
        self.save_params(model.params(), model.param_tensors(), dir)
    }

    /// [`Trainer::save_checkpoint`] for any [`TrainModel`].
    pub fn save_model_checkpoint(
        &self,
        model: &dyn TrainModel<T>,
        dir: &Path,
    ) -> Result<PathBuf, TrainError> {
        self.save_params(model.params(), model.param_tensors(), dir)
    }

    /// Writes the checkpoint of parameters `params` laid out as `layout`.
    fn save_params(
        &self,
        params: &[T],
        layout: Vec<symplode_runtime::ParamTensor>,
        dir: &Path,
    ) -> Result<PathBuf, TrainError> {
        checkpoint::save(
            dir,
            params,
            layout,
            &*self.optimizer,
            self.iteration,
            self.config.seed,
            self.base_lr,
            self.describe(),
        )
    }

    /// Loads the checkpoint in `dir` into `model` and the optimiser and continues from its
    /// iteration. Fails with [`TrainError::CheckpointMissing`], [`TrainError::CheckpointCorrupt`]
    /// (including an optimiser step count above the iteration, or inconsistent random-stream
    /// state) or [`TrainError::CheckpointMismatch`] (model layout, optimiser kind, seed or
    /// precision differ, or the checkpoint's iteration is beyond this run's iterations),
    /// leaving `model` and the trainer unchanged.
    pub fn resume(
        &mut self,
        model: &mut dyn Dynamics<T>,
        dir: &Path,
    ) -> Result<Restored, TrainError> {
        self.resume_model(&mut Single(model), dir)
    }

    /// [`Trainer::resume`] for any [`TrainModel`].
    pub fn resume_model(
        &mut self,
        model: &mut dyn TrainModel<T>,
        dir: &Path,
    ) -> Result<Restored, TrainError> {
        let restored = checkpoint::load(
            dir,
            model,
            &mut *self.optimizer,
            self.config.seed,
            self.config.iterations,
        )?;
        if let Some(v) = &mut self.validation {
            v.restore(&restored.meta.config);
        }
        self.iteration = restored.iteration;
        self.base_lr = restored.base_lr;
        Ok(restored)
    }
}
