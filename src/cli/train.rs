//! `symplode train --config run.toml`: fit a model spec to trajectory data (see
//! `docs/train.md`); with the `mpi` feature and `mpiexec -n R`, data-parallel over R ranks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;
use symplode::io::{self, ModelSpec, SafeTensors, npy, safetensors::NamedTensor};
use symplode::prelude::*;
use symplode::runtime::optim::{Adam, Optimizer, Sgd};
#[cfg(not(feature = "mpi"))]
use symplode::train::SingleProcess;
use symplode::train::{
    Batches, Collective, DataSource, IterationLog, OptimizerChoice, OwnedSingle, RunConfig, Single,
    TrainConfig, TrainModel, Trainer, TrajectorySet, spiral_trajectory,
};

use super::CliError;
use super::load::CliReal;

/// `symplode train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The run file (TOML): model, data, method, optimiser, outputs (see docs/train.md).
    #[arg(long, value_name = "RUN.toml")]
    pub config: PathBuf,
    /// Continue from the last checkpoint of an interrupted run.
    #[arg(long)]
    pub resume: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `train` prints.
#[derive(Serialize)]
struct TrainReport {
    command: &'static str,
    config: String,
    precision: &'static str,
    ranks: usize,
    shards: usize,
    method: String,
    tableau: String,
    start_iteration: u64,
    iterations: u64,
    stopped_early: bool,
    loss: &'static str,
    final_loss: f64,
    final_val_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    final_bits_per_dim: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    final_val_bits_per_dim: Option<f64>,
    seconds: f64,
    weights: String,
    log: String,
    curve: String,
    checkpoint: String,
}

impl From<symplode::train::TrainError> for CliError {
    fn from(e: symplode::train::TrainError) -> Self {
        CliError(e.to_string())
    }
}

/// Runs `train`, appending the report to `out` (rank 0 only).
pub fn run(args: &TrainArgs, out: &mut String) -> Result<(), CliError> {
    let cfg = RunConfig::read(&args.config)?;
    #[cfg(feature = "mpi")]
    {
        let world = symplode::train::MpiCollective::init()?;
        let result = dispatch(&cfg, args, &world, out);
        if let Err(CliError(msg)) = &result
            && world.size() > 1
        {
            // One write of the whole line: `eprintln!` writes its pieces separately, and
            // mpiexec, tearing the job down on the abort, forwarded only the first ("error:
            // rank ") in one CI run.
            let line = format!("error: rank {}: {}\n", world.rank(), super::one_line(msg));
            let mut err = std::io::stderr().lock();
            let _ = std::io::Write::write_all(&mut err, line.as_bytes());
            let _ = std::io::Write::flush(&mut err);
            drop(err);
            world.abort(1);
        }
        result
    }
    #[cfg(not(feature = "mpi"))]
    dispatch(&cfg, args, &SingleProcess, out)
}

fn dispatch(
    cfg: &RunConfig,
    args: &TrainArgs,
    world: &dyn Collective,
    out: &mut String,
) -> Result<(), CliError> {
    if cfg.f32 {
        run_in::<f32>(cfg, args, world, out)
    } else {
        run_in::<f64>(cfg, args, world, out)
    }
}

/// Everything but the optimiser, in precision `T`.
fn run_in<T: CliReal>(
    cfg: &RunConfig,
    args: &TrainArgs,
    world: &dyn Collective,
    out: &mut String,
) -> Result<(), CliError> {
    // For tests of a failing rank: this rank fails before training while the others wait in
    // the first all-gather; the job must end (MPI_Abort), not hang.
    if std::env::var("SYMPLODE_TEST_FAIL_RANK").ok() == Some(world.rank().to_string()) {
        return Err(CliError(format!(
            "rank {}: injected failure (SYMPLODE_TEST_FAIL_RANK)",
            world.rank()
        )));
    }
    if symplode::train::is_flow_model_file(&cfg.model).map_err(|e| field(cfg, "model", e))? {
        return super::train_flow::run::<T>(cfg, args, world, out);
    }
    if cfg.data.is_flow() {
        return Err(field(
            cfg,
            "model",
            format!(
                "{} is not a flow model file (form = \"cnf\"), but the data are samples for a \
                 flow",
                cfg.model.display()
            ),
        ));
    }
    let spec = ModelSpec::read(&cfg.model).map_err(|e| field(cfg, "model", e))?;
    let net = match &cfg.weights {
        Some(w) => SafeTensors::read(w)
            .and_then(|st| spec.build::<T>(&st))
            .map_err(|e| field(cfg, "weights", e))?,
        None => spec.init::<T>(cfg.seed)?,
    };
    let setup = Setup::<T>::new(cfg, spec.tableau(), &spec.solver, spec.origin(), args)?;
    let mut data = trajectories::<T>(cfg, spec.dim)?;
    let validation = match cfg.validation {
        Some((fraction, every, early)) => Some((
            data.split_validation(fraction, cfg.seed)
                .map_err(|e| CliError(format!("{}: {e}", cfg.origin)))?,
            every,
            early,
        )),
        None => None,
    };
    setup.train(cfg, args, world, net, &data, validation, None, out)?;
    Ok(())
}

/// What every run needs besides the model and the data: tableau, scheme, stepping, gradient
/// method and the trainer's configuration.
pub(super) struct Setup<T: Real> {
    tableau: String,
    scheme: Scheme<T>,
    stepping: Stepping,
    method: Box<dyn GradientMethod<T>>,
    config: TrainConfig,
    bits: Option<symplode::train::BitsPerDim>,
}

/// A validation batch, its interval and early stopping.
pub(super) type ValidationParts<T> = Option<(
    symplode::train::Batch<T>,
    u64,
    Option<symplode::train::EarlyStopping>,
)>;

impl<T: CliReal> Setup<T> {
    /// From the run file, the model file's tableau, solver options and name.
    pub(super) fn new(
        cfg: &RunConfig,
        spec_tableau: Result<Option<Tableau>, io::IoError>,
        spec_solver: &io::SolverSpec,
        spec_origin: &str,
        args: &TrainArgs,
    ) -> Result<Self, CliError> {
        let tableau = match &cfg.tableau {
            Some(name) => io::resolve_tableau(name, Some(&cfg.base)).map_err(|e| match e {
                io::IoError::Field { reason, .. } => field(cfg, "solver.tableau", reason),
                other => field(cfg, "solver.tableau", other),
            })?,
            None => spec_tableau?.ok_or_else(|| {
                CliError(format!(
                    "{}: `solver.tableau` missing, and {spec_origin} names none",
                    cfg.origin,
                ))
            })?,
        };
        let scheme = Scheme::<T>::new(&tableau)
            .map_err(|e| CliError(format!("{}: tableau `{}`: {e}", cfg.origin, tableau.name())))?;
        let origin = format!("{spec_origin} with the [solver] of {}", cfg.origin);
        let stepping = spec_solver
            .overridden_by(&cfg.solver)
            .stepping(&origin)?
            .ok_or_else(|| {
                CliError(format!(
                    "{}: no step options: give `solver.steps` or `solver.rtol`/`solver.atol` (or \
                     a [solver] section in {spec_origin})",
                    cfg.origin,
                ))
            })?;
        let budget = super::memory_budget(cfg.memory_budget.as_deref())
            .map_err(|CliError(m)| CliError(format!("{}: `memory_budget`: {m}", cfg.origin)))?;
        let options = symplode::runtime::grad::MethodOptions {
            checkpoints: cfg.checkpoints,
            lambda: cfg.lambda,
            memory_budget: Some(usize::try_from(budget.bytes).unwrap_or(usize::MAX)),
        };
        let method = symplode::runtime::grad::method_with_options::<T>(&cfg.method, &options)
            .map_err(|e| CliError(format!("{}: `method.name`: {e}", cfg.origin)))?;
        let config = TrainConfig {
            iterations: cfg.iterations,
            seed: cfg.seed,
            loss: cfg.loss,
            schedule: cfg.schedule,
            clip_norm: cfg.clip_norm,
            progress: !args.quiet && !args.json,
            log_path: Some(cfg.out.join("log.jsonl")),
            checkpoint_dir: Some(cfg.checkpoint_dir.clone()),
            checkpoint_every: cfg.checkpoint_every,
            extra: serde_json::json!({ "run": cfg.origin, "model": spec_origin }),
            memory_budget: Some(budget),
        };
        Ok(Setup {
            tableau: tableau.name().to_string(),
            scheme,
            stepping,
            method,
            config,
            bits: None,
        })
    }

    /// The tableau's scheme.
    pub(super) fn scheme(&self) -> &Scheme<T> {
        &self.scheme
    }

    /// The step options.
    pub(super) fn stepping(&self) -> &Stepping {
        &self.stepping
    }

    /// Multiplies adaptive steps' `rtol` and `atol` by `factor` (fixed steps unchanged).
    pub(super) fn scale_tolerances(mut self, factor: f64) -> Self {
        if let Stepping::Adaptive(a) = &mut self.stepping {
            a.rtol *= factor;
            a.atol *= factor;
        }
        self
    }

    /// Reports the losses in bits/dim too (an image flow).
    pub(super) fn with_bits_per_dim(mut self, bits: symplode::train::BitsPerDim) -> Self {
        self.bits = Some(bits);
        self
    }

    /// Sets the loss (a flow's NLL with the model's dimension).
    pub(super) fn with_loss(mut self, loss: symplode::train::Loss) -> Self {
        self.config.loss = loss;
        self
    }

    /// Trains `net` on `data` with the run's optimiser, then writes the outputs (rank 0).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn train<N: Dynamics<T>>(
        &self,
        cfg: &RunConfig,
        args: &TrainArgs,
        world: &dyn Collective,
        mut net: N,
        data: &dyn Batches<T>,
        validation: ValidationParts<T>,
        validation_model: Option<Box<dyn Dynamics<T>>>,
        out: &mut String,
    ) -> Result<N, CliError> {
        let validation_model =
            validation_model.map(|m| Box::new(OwnedSingle(m)) as Box<dyn TrainModel<T>>);
        self.train_model(
            cfg,
            args,
            world,
            &mut Single(&mut net),
            data,
            validation,
            validation_model,
            out,
        )?;
        Ok(net)
    }

    /// [`Setup::train`] for any [`TrainModel`] (a chain of CNF blocks), trained in place; the
    /// validation loss with `validation_model` when given (a tabular chain's exact trace).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn train_model(
        &self,
        cfg: &RunConfig,
        args: &TrainArgs,
        world: &dyn Collective,
        net: &mut dyn TrainModel<T>,
        data: &dyn Batches<T>,
        validation: ValidationParts<T>,
        validation_model: Option<Box<dyn TrainModel<T>>>,
        out: &mut String,
    ) -> Result<(), CliError> {
        let parts = Parts {
            cfg,
            args,
            world,
            method: &*self.method,
            scheme: &self.scheme,
            stepping: self.stepping.clone(),
            config: self.config.clone(),
            validation,
            validation_model,
            tableau: self.tableau.clone(),
            bits: self.bits,
        };
        match &cfg.optimizer {
            OptimizerChoice::Adam(c) => {
                let adam = Adam::new(*c).map_err(|e| field(cfg, "optimizer", e))?;
                train(parts, adam, net, data, out)
            }
            OptimizerChoice::Sgd(c) => {
                let sgd = Sgd::new(*c).map_err(|e| field(cfg, "optimizer", e))?;
                train(parts, sgd, net, data, out)
            }
        }
    }
}

/// One error line naming a field of the run file.
pub(super) fn field(cfg: &RunConfig, name: &str, e: impl std::fmt::Display) -> CliError {
    CliError(format!("{}: `{name}`: {e}", cfg.origin))
}

/// What [`train`] needs besides the optimiser.
struct Parts<'a, T: Real> {
    cfg: &'a RunConfig,
    args: &'a TrainArgs,
    world: &'a dyn Collective,
    method: &'a dyn GradientMethod<T>,
    scheme: &'a Scheme<T>,
    stepping: Stepping,
    config: TrainConfig,
    validation: ValidationParts<T>,
    validation_model: Option<Box<dyn TrainModel<T>>>,
    tableau: String,
    bits: Option<symplode::train::BitsPerDim>,
}

/// The run itself, then (rank 0) the weights, the learning curve and the report.
fn train<T: CliReal, O: Optimizer<T>>(
    p: Parts<'_, T>,
    optimizer: O,
    net: &mut dyn TrainModel<T>,
    data: &dyn Batches<T>,
    out: &mut String,
) -> Result<(), CliError> {
    let cfg = p.cfg;
    let mut trainer = Trainer::new(p.method, p.scheme, p.stepping, optimizer, p.config)
        .map_err(|e| CliError(format!("{}: {e}", cfg.origin)))?
        .with_shards(cfg.shards)
        .and_then(|t| t.with_collective(p.world))
        .map_err(|e| CliError(format!("{}: {e}", cfg.origin)))?;
    if let Some(b) = p.bits {
        trainer = trainer.with_bits_per_dim(b);
    }
    if let Some((batch, every, early)) = p.validation {
        trainer = trainer.with_validation(batch, every, early)?;
        if let Some(m) = p.validation_model {
            trainer = trainer.with_validation_train_model(m)?;
        }
    }
    if p.args.resume {
        trainer.resume_model(net, &cfg.checkpoint_dir)?;
    }
    // For tests of `--resume`: die like a killed process right after this iteration.
    let die_after: Option<u64> = std::env::var("SYMPLODE_TEST_KILL_AFTER")
        .ok()
        .and_then(|v| v.parse().ok());
    let summary = trainer.run_model(net, data, &mut |r, _| {
        if Some(r.iteration) == die_after {
            std::process::abort();
        }
    })?;
    if p.world.rank() != 0 {
        return Ok(());
    }
    let weights = cfg.out.join("weights.safetensors");
    save_weights(&weights, &*net, cfg, &summary.history)?;
    let log = cfg.out.join("log.jsonl");
    let curve = cfg.out.join("curve.png");
    super::curve::write(&curve, &read_log(&log)?)?;
    let report = TrainReport {
        command: "train",
        config: cfg.origin.clone(),
        precision: T::NAME,
        ranks: p.world.size(),
        shards: trainer.shards(),
        method: p.method.name().to_string(),
        tableau: p.tableau,
        start_iteration: summary.start_iteration,
        iterations: summary.iterations,
        stopped_early: trainer.stopped_early(),
        loss: trainer.config().loss.name(),
        final_loss: summary.final_loss(),
        final_val_loss: summary.history.iter().rev().find_map(|r| r.val_loss),
        final_bits_per_dim: summary.history.last().and_then(|r| r.bits_per_dim),
        final_val_bits_per_dim: summary
            .history
            .iter()
            .rev()
            .find_map(|r| r.val_bits_per_dim),
        seconds: summary.seconds,
        weights: weights.display().to_string(),
        log: log.display().to_string(),
        curve: curve.display().to_string(),
        checkpoint: cfg.checkpoint_dir.display().to_string(),
    };
    if p.args.json {
        out.push_str(&super::report::json(&report)?);
    } else {
        text(&report, out);
    }
    Ok(())
}

/// The trained weights under the spec's tensor names (what `grad --weights` and PyTorch's
/// `load_state_dict` read), with the run's provenance as metadata.
fn save_weights<T: Real>(
    path: &Path,
    net: &dyn TrainModel<T>,
    cfg: &RunConfig,
    history: &[IterationLog],
) -> Result<(), CliError> {
    let params = net.params();
    let tensors: Vec<NamedTensor<'_, T>> = net
        .param_tensors()
        .into_iter()
        .filter_map(|t| Some(NamedTensor::new(&t.name, &t.shape, params.get(t.range())?)))
        .collect();
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "symplode-trained-weights".to_string());
    meta.insert("run".to_string(), cfg.origin.clone());
    if let Some(r) = history.last() {
        meta.insert("iteration".to_string(), r.iteration.to_string());
        meta.insert("loss".to_string(), format!("{:e}", r.loss));
    }
    Ok(io::safetensors::write(path, &tensors, &meta)?)
}

/// Every record of the log (this run's and, after a resume, the earlier ones).
fn read_log(path: &Path) -> Result<Vec<IterationLog>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// The training windows of the run's data.
fn trajectories<T: Real>(cfg: &RunConfig, dim: usize) -> Result<TrajectorySet<T>, CliError> {
    let (times, states, n, d) = match &cfg.data {
        DataSource::Trajectories { states, times } => {
            let s = npy::read(states)?;
            let t = npy::read(times)?;
            let origin = states.display().to_string();
            s.check_finite(&origin, "trajectories")?;
            t.check_finite(&times.display().to_string(), "times")?;
            let [k, n, d] = s.shape[..] else {
                return Err(CliError(format!(
                    "{origin}: `data.trajectories` must be [K, n, dim], got {:?}",
                    s.shape
                )));
            };
            if t.shape != [k] {
                return Err(CliError(format!(
                    "{}: `data.times` must be [{k}] (K of the trajectories), got {:?}",
                    times.display(),
                    t.shape
                )));
            }
            (t.to_vec::<f64>(), s.to_vec::<T>(), n, d)
        }
        DataSource::Physics {
            kind,
            count,
            points,
        } => {
            let mut c = symplode::physics::DatasetConfig::dgnet(*kind);
            c.trajectories = *count;
            c.steps = points - 1;
            let d = symplode::physics::Dataset::generate(&c, |_, _| {})
                .map_err(|e| field(cfg, "data.builtin", e))?;
            let n = d.n();
            // [trajectory, state, n] → [state K, trajectory, n].
            let mut s = Vec::with_capacity(d.u.len());
            for k in 0..d.states {
                for j in 0..d.trajectories {
                    s.extend(d.state(j, k).iter().map(|&v| T::of(v)));
                }
            }
            let t = (0..d.states).map(|k| k as f64 * d.dt).collect();
            (t, s, d.trajectories, n)
        }
        DataSource::Spiral { points, noise } => {
            let (t, s) = spiral_trajectory(*points, *noise, cfg.seed);
            (t, s.into_iter().map(T::of).collect(), 1, 2)
        }
        _ => {
            return Err(field(
                cfg,
                "model",
                "flow samples need a flow model file (form = \"cnf\")",
            ));
        }
    };
    if d != dim {
        return Err(CliError(format!(
            "{}: the data has dimension {d}, the model {dim}",
            cfg.origin
        )));
    }
    let k = times.len();
    TrajectorySet::new(times, states, n, d, cfg.window.unwrap_or(k), cfg.batch)
        .map_err(|e| CliError(format!("{}: {e}", cfg.origin)))
}

/// The human-readable report.
fn text(r: &TrainReport, out: &mut String) {
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<12}{v}\n"));
    line("config", format!("{} ({})", r.config, r.precision));
    line(
        "method",
        format!(
            "{}, tableau {}, {} shards on {} rank(s)",
            r.method, r.tableau, r.shards, r.ranks
        ),
    );
    let stop = if r.stopped_early {
        " (stopped early)"
    } else {
        ""
    };
    line(
        "iterations",
        format!("{} → {}{stop}", r.start_iteration, r.iterations),
    );
    let unit = if r.loss == "nll" { " nats (nll)" } else { "" };
    line("loss", format!("{:.6e}{unit}", r.final_loss));
    if let Some(v) = r.final_val_loss {
        line("val loss", format!("{v:.6e}{unit}"));
    }
    if let Some(b) = r.final_bits_per_dim {
        line("bits/dim", format!("{b:.4} (last batch)"));
    }
    if let Some(b) = r.final_val_bits_per_dim {
        line(
            "val bpd",
            format!("{b:.4} bits/dim (held-out test images, Hutchinson, fixed seed)"),
        );
    }
    line("wall time", format!("{:.3} s", r.seconds));
    line("weights", r.weights.clone());
    line("log", r.log.clone());
    line("curve", r.curve.clone());
    line("checkpoint", r.checkpoint.clone());
}
