//! The run file of `symplode train --config run.toml` (feature `model-files`): what to fit,
//! how, and where the results go. See `docs/train.md` for a walk-through.
//! Every field's check sits beside its field, so one bad field is one error naming it; the
//! `[data]` table is checked in `run_data.rs`.
//!
//! ```toml
//! model = "model.toml"        # model spec (paths are relative to this file)
//! weights = "init.safetensors"  # optional start weights (default: the spec's init with `seed`)
//! out = "run"                 # weights.safetensors, log.jsonl, curve.png, checkpoints/
//! precision = "f64"           # or "f32"
//! seed = 0
//! iterations = 500
//! batch = 16                  # windows per global mini-batch
//! shards = 4                  # fixed summation shards (MPI ranks must divide it)
//! loss = "mse"                # or "l1"
//!
//! [data]                      # either trajectories + times, or builtin
//! trajectories = "spiral.npy" # [K, n, dim]
//! times = "times.npy"         # [K]
//! window = 10                 # observations per window (default K)
//!
//! # or, for a flow (a model file with form = "cnf"; loss "nll"):
//! # samples = "x.npy"         # [n, dim]
//! # builtin = "8gaussians"    # a toy density (points = 10000 drawn with `seed`), or "patches"
//! #                           # (63-D image patches; dir = skimage's data directory)
//!
//! [method]
//! name = "symplectic"         # any `symplode grad --method` name
//!
//! [solver]                    # overrides the spec's tableau and [solver]
//! tableau = "dopri5"
//! rtol = 1e-6
//! atol = 1e-8
//!
//! [optimizer]
//! kind = "adam"               # or "sgd"
//! lr = 0.01
//! weight_decay = 0.0
//!
//! [schedule]
//! kind = "cosine"             # "constant", "step" (every, gamma), "cosine" (total, min_lr)
//!
//! [validation]
//! fraction = 0.1
//! every = 10
//! patience = 50               # early stopping (optional)
//!
//! [checkpoint]
//! every = 50
//! ```
//!
//! Unknown fields, wrong types and bad values are errors naming the field (with line and
//! column for what the TOML reader finds).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use symplode_runtime::optim::{AdamConfig, LrSchedule, SgdConfig, WeightDecay};

pub use super::run_data::DataSource;
use super::run_data::{RawData, parse_data};
use super::{EarlyStopping, Loss};
use crate::io::{IoError, SolverSpec, read_text, toml_error};

/// A parsed and checked run file.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    /// The file (for messages) and the directory relative paths resolve against.
    pub origin: String,
    /// The directory relative paths (also a tableau file's) resolve against.
    pub base: PathBuf,
    /// The model spec.
    pub model: PathBuf,
    /// Start weights (else the spec's initialisation with `seed`).
    pub weights: Option<PathBuf>,
    /// Output directory.
    pub out: PathBuf,
    /// Compute in f32.
    pub f32: bool,
    /// Seed of the initial weights, the batches and the validation split.
    pub seed: u64,
    /// Total iterations.
    pub iterations: u64,
    /// Windows per global batch.
    pub batch: usize,
    /// Shards of every batch.
    pub shards: usize,
    /// The data term (for flow data [`Loss::Nll`] with `dim: 0`: the model file's dimension
    /// is filled in by whoever reads the model).
    pub loss: Loss,
    /// The data.
    pub data: DataSource,
    /// Observations per window (`None`: all times).
    pub window: Option<usize>,
    /// Gradient method name, binomial checkpoints and reversible coupling.
    pub method: String,
    /// Checkpoint slots of `symplectic-binomial`.
    pub checkpoints: usize,
    /// λ of the reversible methods.
    pub lambda: f64,
    /// Tableau (built-in name or file) overriding the spec's.
    pub tableau: Option<String>,
    /// Step options overriding the spec's.
    pub solver: SolverSpec,
    /// The optimiser.
    pub optimizer: OptimizerChoice,
    /// The schedule.
    pub schedule: LrSchedule,
    /// Gradient clipping.
    pub clip_norm: Option<f64>,
    /// Validation fraction and interval, and early stopping.
    pub validation: Option<(f64, u64, Option<EarlyStopping>)>,
    /// Checkpoint directory and interval.
    pub checkpoint_dir: PathBuf,
    /// Iterations between checkpoints (0: only at the end).
    pub checkpoint_every: u64,
    /// Memory budget text (e.g. `4G`).
    pub memory_budget: Option<String>,
}

/// The optimiser of a run.
#[derive(Clone, Debug, PartialEq)]
pub enum OptimizerChoice {
    /// Adam / AdamW.
    Adam(AdamConfig),
    /// SGD with momentum.
    Sgd(SgdConfig),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    model: PathBuf,
    weights: Option<PathBuf>,
    out: PathBuf,
    precision: Option<String>,
    seed: Option<u64>,
    iterations: u64,
    batch: usize,
    shards: Option<usize>,
    loss: Option<String>,
    memory_budget: Option<String>,
    data: RawData,
    #[serde(default)]
    method: RawMethod,
    #[serde(default)]
    solver: RawSolver,
    #[serde(default)]
    optimizer: RawOptimizer,
    #[serde(default)]
    schedule: RawSchedule,
    validation: Option<RawValidation>,
    #[serde(default)]
    checkpoint: RawCheckpoint,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMethod {
    name: Option<String>,
    checkpoints: Option<usize>,
    lambda: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSolver {
    tableau: Option<String>,
    steps: Option<usize>,
    rtol: Option<f64>,
    atol: Option<f64>,
    first_step: Option<f64>,
    max_steps: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOptimizer {
    kind: Option<String>,
    lr: Option<f64>,
    beta1: Option<f64>,
    beta2: Option<f64>,
    eps: Option<f64>,
    momentum: Option<f64>,
    dampening: Option<f64>,
    nesterov: Option<bool>,
    weight_decay: Option<f64>,
    decoupled: Option<bool>,
    clip_norm: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    kind: Option<String>,
    every: Option<u64>,
    gamma: Option<f64>,
    total: Option<u64>,
    min_lr: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValidation {
    fraction: f64,
    every: Option<u64>,
    patience: Option<u64>,
    min_delta: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCheckpoint {
    dir: Option<PathBuf>,
    every: Option<u64>,
}

impl RunConfig {
    /// Reads and checks a run file; relative paths in it resolve against its directory.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, IoError> {
        let path = path.as_ref();
        let text = read_text(path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        Self::parse(&text, &path.display().to_string(), base)
    }

    /// Parses and checks run-file text; `origin` names it in errors, `base` is the directory
    /// relative paths resolve against.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Self, IoError> {
        let raw: Raw =
            toml::from_str(text).map_err(|e| name_field(toml_error(origin, text, &e), text))?;
        let bad = |field: &str, reason: String| IoError::Field {
            origin: origin.to_string(),
            field: field.to_string(),
            reason,
        };
        let at = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let f32 = match raw.precision.as_deref() {
            None | Some("f64") => false,
            Some("f32") => true,
            Some(o) => return Err(bad("precision", format!("`{o}`; use \"f64\" or \"f32\""))),
        };
        if raw.iterations == 0 {
            return Err(bad("iterations", "0; must be ≥ 1".into()));
        }
        if raw.batch == 0 {
            return Err(bad("batch", "0; must be ≥ 1".into()));
        }
        let shards = raw.shards.unwrap_or(1);
        if shards == 0 || shards > raw.batch {
            return Err(bad(
                "shards",
                format!("{shards}; need 1 ≤ shards ≤ batch ({})", raw.batch),
            ));
        }
        let (data, window) = parse_data(raw.data, &bad, &at)?;
        let loss = match (raw.loss.as_deref(), data.is_flow()) {
            (None | Some("nll"), true) => Loss::Nll { dim: 0 },
            (None | Some("mse"), false) => Loss::Mse,
            (Some("l1"), false) => Loss::L1,
            (Some(o), true) => {
                return Err(bad(
                    "loss",
                    format!("`{o}`; flow samples are fitted with \"nll\""),
                ));
            }
            (Some("nll"), false) => {
                return Err(bad(
                    "loss",
                    "\"nll\" is for flow samples (`samples` or a toy `builtin`); trajectories \
                     use \"mse\" or \"l1\""
                        .into(),
                ));
            }
            (Some(o), false) => {
                return Err(bad("loss", format!("`{o}`; use \"mse\" or \"l1\"")));
            }
        };
        let method = raw.method.name.unwrap_or_else(|| "symplectic".into());
        const METHODS: [&str; 11] = [
            "symplectic",
            "symplectic-stored",
            "backprop",
            "adjoint",
            "adjoint-seminorm",
            "aca",
            "checkpoint-component",
            "symplectic-binomial",
            "reversible",
            "reversible-backprop",
            "auto",
        ];
        if !METHODS.contains(&method.as_str()) {
            return Err(bad(
                "method.name",
                format!("`{method}`; one of {}", METHODS.join(", ")),
            ));
        }
        let checkpoints = raw.method.checkpoints.unwrap_or(16);
        if checkpoints == 0 {
            return Err(bad("method.checkpoints", "0; must be ≥ 1".into()));
        }
        let lambda = raw.method.lambda.unwrap_or(0.999);
        if !(lambda > 0.0 && lambda <= 1.0) {
            return Err(bad("method.lambda", format!("{lambda}; must be in (0, 1]")));
        }
        let s = raw.solver;
        let solver = SolverSpec {
            steps: s.steps,
            rtol: s.rtol,
            atol: s.atol,
            first_step: s.first_step,
            max_steps: s.max_steps,
        };
        solver.check(&format!("{origin} [solver]"))?;
        let o = raw.optimizer;
        let lr = o.lr.unwrap_or(0.01);
        if !(lr.is_finite() && lr > 0.0) {
            return Err(bad("optimizer.lr", format!("{lr}; must be finite and > 0")));
        }
        let wd = o.weight_decay.unwrap_or(0.0);
        if !(wd.is_finite() && wd >= 0.0) {
            return Err(bad(
                "optimizer.weight_decay",
                format!("{wd}; must be finite and ≥ 0"),
            ));
        }
        let weight_decay = match (wd, o.decoupled.unwrap_or(false)) {
            (0.0, _) => WeightDecay::None,
            (c, false) => WeightDecay::L2(c),
            (c, true) => WeightDecay::Decoupled(c),
        };
        let check_unit = |field: &str, v: Option<f64>| -> Result<(), IoError> {
            match v {
                Some(x) if !(x.is_finite() && (0.0..1.0).contains(&x)) => {
                    Err(bad(field, format!("{x}; must be in [0, 1)")))
                }
                _ => Ok(()),
            }
        };
        let optimizer = match o.kind.as_deref() {
            None | Some("adam") => {
                for (f, v) in [
                    ("optimizer.momentum", o.momentum.is_some()),
                    ("optimizer.dampening", o.dampening.is_some()),
                    ("optimizer.nesterov", o.nesterov.is_some()),
                ] {
                    if v {
                        return Err(bad(f, "only for kind = \"sgd\"".into()));
                    }
                }
                check_unit("optimizer.beta1", o.beta1)?;
                check_unit("optimizer.beta2", o.beta2)?;
                let d = AdamConfig::default();
                let eps = o.eps.unwrap_or(d.eps);
                if !(eps.is_finite() && eps > 0.0) {
                    return Err(bad(
                        "optimizer.eps",
                        format!("{eps}; must be finite and > 0"),
                    ));
                }
                OptimizerChoice::Adam(AdamConfig {
                    lr,
                    beta1: o.beta1.unwrap_or(d.beta1),
                    beta2: o.beta2.unwrap_or(d.beta2),
                    eps,
                    weight_decay,
                })
            }
            Some("sgd") => {
                for (f, v) in [
                    ("optimizer.beta1", o.beta1.is_some()),
                    ("optimizer.beta2", o.beta2.is_some()),
                    ("optimizer.eps", o.eps.is_some()),
                ] {
                    if v {
                        return Err(bad(f, "only for kind = \"adam\"".into()));
                    }
                }
                if matches!(weight_decay, WeightDecay::Decoupled(_)) {
                    return Err(bad(
                        "optimizer.decoupled",
                        "only for kind = \"adam\" (AdamW)".into(),
                    ));
                }
                let momentum = o.momentum.unwrap_or(0.0);
                check_unit("optimizer.momentum", Some(momentum))?;
                let dampening = o.dampening.unwrap_or(0.0);
                check_unit("optimizer.dampening", Some(dampening))?;
                let nesterov = o.nesterov.unwrap_or(false);
                if nesterov && (momentum == 0.0 || dampening != 0.0) {
                    return Err(bad(
                        "optimizer.nesterov",
                        "needs momentum > 0 and dampening = 0".into(),
                    ));
                }
                OptimizerChoice::Sgd(SgdConfig {
                    lr,
                    momentum,
                    dampening,
                    nesterov,
                    weight_decay,
                })
            }
            Some(k) => {
                return Err(bad(
                    "optimizer.kind",
                    format!("`{k}`; use \"adam\" or \"sgd\""),
                ));
            }
        };
        if let Some(c) = o.clip_norm
            && !(c.is_finite() && c > 0.0)
        {
            return Err(bad(
                "optimizer.clip_norm",
                format!("{c}; must be finite and > 0"),
            ));
        }
        let sc = raw.schedule;
        let schedule = match sc.kind.as_deref() {
            None | Some("constant") => {
                for (f, v) in [
                    ("schedule.every", sc.every.is_some()),
                    ("schedule.gamma", sc.gamma.is_some()),
                    ("schedule.total", sc.total.is_some()),
                    ("schedule.min_lr", sc.min_lr.is_some()),
                ] {
                    if v {
                        return Err(bad(f, "not used by kind = \"constant\"".into()));
                    }
                }
                LrSchedule::Constant
            }
            Some("step") => {
                let every = sc.every.ok_or_else(|| {
                    bad(
                        "schedule.every",
                        "missing (kind = \"step\" needs it)".into(),
                    )
                })?;
                if every == 0 {
                    return Err(bad("schedule.every", "0; must be ≥ 1".into()));
                }
                let gamma = sc.gamma.unwrap_or(0.1);
                if !(gamma.is_finite() && gamma > 0.0) {
                    return Err(bad(
                        "schedule.gamma",
                        format!("{gamma}; must be finite and > 0"),
                    ));
                }
                LrSchedule::Step { every, gamma }
            }
            Some("cosine") => {
                let total = sc.total.unwrap_or(raw.iterations);
                if total == 0 {
                    return Err(bad("schedule.total", "0; must be ≥ 1".into()));
                }
                let min_lr = sc.min_lr.unwrap_or(0.0);
                if !(min_lr.is_finite() && (0.0..=lr).contains(&min_lr)) {
                    return Err(bad(
                        "schedule.min_lr",
                        format!("{min_lr}; must be in [0, optimizer.lr = {lr}]"),
                    ));
                }
                LrSchedule::Cosine { total, min_lr }
            }
            Some(k) => {
                return Err(bad(
                    "schedule.kind",
                    format!("`{k}`; use \"constant\", \"step\" or \"cosine\""),
                ));
            }
        };
        let validation = match raw.validation {
            None => None,
            Some(v) => {
                if !(v.fraction.is_finite() && v.fraction > 0.0 && v.fraction < 1.0) {
                    return Err(bad(
                        "validation.fraction",
                        format!("{}; must be in (0, 1)", v.fraction),
                    ));
                }
                let every = v.every.unwrap_or(10);
                if every == 0 {
                    return Err(bad("validation.every", "0; must be ≥ 1".into()));
                }
                let early = match v.patience {
                    Some(0) => return Err(bad("validation.patience", "0; must be ≥ 1".into())),
                    Some(patience) => {
                        let min_delta = v.min_delta.unwrap_or(0.0);
                        if !(min_delta.is_finite() && min_delta >= 0.0) {
                            return Err(bad(
                                "validation.min_delta",
                                format!("{min_delta}; must be finite and ≥ 0"),
                            ));
                        }
                        Some(EarlyStopping {
                            patience,
                            min_delta,
                        })
                    }
                    None if v.min_delta.is_some() => {
                        return Err(bad(
                            "validation.min_delta",
                            "needs `patience` (early stopping)".into(),
                        ));
                    }
                    None => None,
                };
                Some((v.fraction, every, early))
            }
        };
        let out = at(raw.out);
        let checkpoint_dir = raw
            .checkpoint
            .dir
            .map_or_else(|| out.join("checkpoints"), at);
        Ok(RunConfig {
            origin: origin.to_string(),
            base: base.to_path_buf(),
            model: at(raw.model),
            weights: raw.weights.map(at),
            out,
            f32,
            seed: raw.seed.unwrap_or(0),
            iterations: raw.iterations,
            batch: raw.batch,
            shards,
            loss,
            data,
            window,
            method,
            checkpoints,
            lambda,
            tableau: s.tableau,
            solver,
            optimizer,
            schedule,
            clip_norm: o.clip_norm,
            validation,
            checkpoint_dir,
            checkpoint_every: raw.checkpoint.every.unwrap_or(0),
            memory_budget: raw.memory_budget,
        })
    }
}

/// Adds the dotted name of the field at the error's line (`optimizer.lr`) to a TOML reader
/// error that does not name it (wrong type or value).
fn name_field(e: IoError, text: &str) -> IoError {
    let IoError::Toml {
        origin,
        line,
        column,
        message,
    } = e
    else {
        return e;
    };
    let mut table = String::new();
    let mut key = None;
    for (i, l) in text.lines().enumerate().take(line) {
        let t = l.trim();
        if t.starts_with('[') {
            table = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        } else if i + 1 == line
            && let Some((k, _)) = t.split_once('=')
        {
            key = Some(k.trim().to_string());
        }
    }
    let message = match key {
        Some(k) if !message.contains(&format!("`{k}`")) => {
            let full = if table.is_empty() {
                k
            } else {
                format!("{table}.{k}")
            };
            format!("`{full}`: {message}")
        }
        _ => message,
    };
    IoError::Toml {
        origin,
        line,
        column,
        message,
    }
}
