//! `symplode train --config run.toml` with a flow model file (`form = "cnf"`): maximum
//! likelihood on samples `[n, dim]` from an `.npy` file, a toy 2-D density or the 63-D image
//! patches (see `docs/train.md`, "Training a flow").

use std::path::PathBuf;

use symplode::io::{SafeTensors, npy};
use symplode::prelude::*;
use symplode::runtime::rng::Rng;
use symplode::train::flow::{EXACT_EVAL_MAX_DIM, FlowSamples, FlowTrace, log_px};
use symplode::train::{Collective, DataSource, FlowSpec, Loss, RunConfig};

use super::load::CliReal;
use super::train::{Setup, TrainArgs, field};
use super::{CliError, density};

/// Salt of the toy samples' generator (distinct from the batches' streams).
const TOY_SALT: u64 = 0x70F_DA7A;
/// Salt of the validation noise (Hutchinson evaluation of wide flows); `grad` and `solve`
/// draw a flow's noise with it from `--noise-seed`.
pub(super) const VALIDATION_SALT: u64 = 0x5EED_7E57;

/// Trains the flow of `cfg.model`.
pub(super) fn run<T: CliReal>(
    cfg: &RunConfig,
    args: &TrainArgs,
    world: &dyn Collective,
    out: &mut String,
) -> Result<(), CliError> {
    let spec = FlowSpec::read(&cfg.model).map_err(|e| field(cfg, "model", e))?;
    if spec.is_chain() {
        return super::train_chain::run::<T>(cfg, args, world, &spec, out);
    }
    if !cfg.data.is_flow() {
        return Err(field(
            cfg,
            "data",
            format!(
                "{} is a flow (form = \"cnf\"): give `samples` (.npy [n, dim]) or a toy \
                 `builtin` (\"fashion-mnist\" for an image flow), not trajectories",
                cfg.model.display()
            ),
        ));
    }
    let params = match &cfg.weights {
        Some(w) => SafeTensors::read(w)
            .and_then(|st| spec.read_params(&st))
            .map_err(|e| field(cfg, "weights", e))?,
        None => spec.init_params(cfg.seed)?,
    };
    let net = spec
        .build::<T>(spec.trace, &params)
        .map_err(|e| field(cfg, "model", e))?;
    let d = spec.dim;
    let (train, held, bits) = match &cfg.data {
        DataSource::FashionMnist { dir, points } => {
            let f = super::train_image::fashion(cfg, &spec, dir.as_ref(), *points)?;
            (f.train, Some(f.validation), Some(f.bits))
        }
        _ => {
            let s = samples(cfg, d)?;
            (s.train, s.validation, None)
        }
    };
    let mut data = FlowSamples::new(train, d, cfg.batch, spec.trace, spec.time_length)
        .map_err(|e| CliError(format!("{}: {e}", cfg.origin)))?;
    let (validation, validation_model) = match cfg.validation {
        None => (None, None),
        Some((fraction, every, early)) => {
            let rows = match held {
                Some(rows) => rows,
                None => data
                    .split_validation(fraction, cfg.seed)
                    .map_err(|e| CliError(format!("{}: {e}", cfg.origin)))?,
            };
            let trace = if d <= EXACT_EVAL_MAX_DIM {
                FlowTrace::Exact
            } else {
                spec.trace
            };
            let mut rng = Rng::new(cfg.seed ^ VALIDATION_SALT);
            let batch = FlowSamples::states::<T>(&rows, d, trace, spec.time_length, &mut rng);
            let model: Option<Box<dyn Dynamics<T>>> = if trace == spec.trace {
                None
            } else {
                let m = spec
                    .build::<T>(trace, &params)
                    .map_err(|e| field(cfg, "model", e))?;
                Some(Box::new(m))
            };
            (Some((batch, every, early)), model)
        }
    };
    let mut setup = Setup::<T>::new(cfg, spec.tableau(), &spec.solver, spec.origin(), args)?
        .with_loss(Loss::Nll { dim: d });
    if let FlowTrace::Hutchinson(_) = spec.trace {
        // The RMS error norm runs over [z, Δlogp, ε]; ε's d components never err. Scaling the
        // tolerances by √((d+1)/(2d+1)) makes the step control on [z, Δlogp] what it is with
        // the noise outside the state (FFJORD's).
        setup = setup.scale_tolerances(((d + 1) as f64 / (2 * d + 1) as f64).sqrt());
    }
    if let Some(b) = bits {
        setup = setup.with_bits_per_dim(b);
    }
    let net = setup.train(
        cfg,
        args,
        world,
        net,
        &data,
        validation,
        validation_model,
        out,
    )?;
    if world.rank() == 0 && d == 2 {
        let trained: Vec<f64> = net.params().iter().map(|v| v.f64()).collect();
        let exact = spec
            .build::<T>(FlowTrace::Exact, &trained)
            .map_err(|e| field(cfg, "model", e))?;
        let path = cfg.out.join("density.png");
        let mass = density_png(&path, &exact, &setup, spec.time_length, data.samples())?;
        if !args.json {
            out.push_str(&format!(
                "{:<12}{} (exact-trace density, mass {mass:.4} on [-{b}, {b}]²)\n",
                "density",
                path.display(),
                b = density::BOX
            ));
        }
    }
    Ok(())
}

/// Writes the training samples and the learned density of a 2-D flow (exact trace) as a PNG;
/// returns the density's mass on the plotted square (≈ 1 when the flow keeps its mass there).
fn density_png<T: CliReal>(
    path: &std::path::Path,
    exact: &dyn Dynamics<T>,
    setup: &Setup<T>,
    time: f64,
    samples: &[f64],
) -> Result<f64, CliError> {
    let pts = density::grid_points();
    let mut logp = Vec::with_capacity(pts.len());
    for part in pts.chunks(4096) {
        let x0: Vec<T> = part
            .iter()
            .flat_map(|p| [T::of(p[0]), T::of(p[1]), T::zero()])
            .collect();
        let sol = solve(exact, setup.scheme(), setup.stepping(), &[0.0, time], &x0)
            .map_err(|e| CliError(format!("{}: density plot: {e}", path.display())))?;
        logp.extend(log_px(&sol.states[0], 3, 2));
    }
    let cell = 2.0 * density::BOX / density::GRID as f64;
    let mass = logp.iter().map(|l| l.exp()).sum::<f64>() * cell * cell;
    density::write(path, samples, &logp)?;
    Ok(mass)
}

/// A flow's samples, each `[n·dim]`.
pub(super) struct Samples {
    /// The training samples.
    pub train: Vec<f64>,
    /// For datasets with their own split: the validation samples.
    pub validation: Option<Vec<f64>>,
    /// For datasets with their own split (the patches): the test samples.
    pub test: Option<Vec<f64>>,
}

/// The training samples and, for datasets with their own split, the validation and test
/// samples.
pub(super) fn samples(cfg: &RunConfig, dim: usize) -> Result<Samples, CliError> {
    let need_dim = |what: &str, d: usize| {
        if d == dim {
            Ok(())
        } else {
            Err(field(
                cfg,
                "model",
                format!(
                    "{what} have dimension {d}, the flow model file {} has dim = {dim}",
                    cfg.model.display()
                ),
            ))
        }
    };
    match &cfg.data {
        DataSource::Samples { path } => {
            let a = npy::read(path).map_err(|e| field(cfg, "data.samples", e))?;
            let [_, d] = a.shape[..] else {
                return Err(field(
                    cfg,
                    "data.samples",
                    format!(
                        "{} must be [n, dim] (2 axes), got shape {:?}",
                        path.display(),
                        a.shape
                    ),
                ));
            };
            a.check_finite(&path.display().to_string(), "samples")
                .map_err(|e| field(cfg, "data.samples", e))?;
            need_dim(&format!("the samples of {}", path.display()), d)?;
            Ok(Samples {
                train: a.to_vec::<f64>(),
                validation: None,
                test: None,
            })
        }
        DataSource::Toy { name, points } => {
            need_dim(&format!("the toy samples `{name}`"), 2)?;
            let mut rng = Rng::new(cfg.seed ^ TOY_SALT);
            let pts = symplode::train::toy::sample(name, *points, &mut rng)
                .map_err(|e| field(cfg, "data.builtin", e))?;
            Ok(Samples {
                train: pts.into_iter().flatten().collect(),
                validation: None,
                test: None,
            })
        }
        DataSource::Patches { dir, points } => patches(cfg, dir.as_ref(), *points, &need_dim),
        _ => Err(field(
            cfg,
            "data",
            "a flow needs `samples` or a toy `builtin`",
        )),
    }
}

/// The 63-D patches: training and validation photographs' patches.
#[cfg(feature = "datasets")]
fn patches(
    cfg: &RunConfig,
    dir: Option<&PathBuf>,
    points: Option<usize>,
    need_dim: &dyn Fn(&str, usize) -> Result<(), CliError>,
) -> Result<Samples, CliError> {
    use symplode::datasets::patches::{self, DIM, PatchConfig};
    need_dim("the image patches", DIM)?;
    let dir = dir.cloned().unwrap_or_else(|| {
        std::env::var_os("SYMPLODE_SKIMAGE_DIR")
            .map_or_else(|| PathBuf::from(patches::SKIMAGE_DATA_DIR), PathBuf::from)
    });
    let mut c = PatchConfig {
        seed: cfg.seed,
        ..PatchConfig::default()
    };
    if let Some(n) = points {
        c.train_per_photo = n;
    }
    let p = patches::load(&dir, &c).map_err(|e| {
        field(
            cfg,
            "data.builtin",
            format!(
                "\"patches\" needs skimage's photographs in {}: {e}. Install them with \
                 `apt-get download python3-skimage && dpkg -x python3-skimage_*.deb DIR` (as \
                 .ci/run does) and set `data.dir` (or SYMPLODE_SKIMAGE_DIR) to \
                 DIR/usr/lib/python3/dist-packages/skimage/data",
                dir.display()
            ),
        )
    })?;
    Ok(Samples {
        train: p.train.data,
        validation: Some(p.validation.data),
        test: Some(p.test.data),
    })
}

/// Without the `datasets` feature the patches are not available.
#[cfg(not(feature = "datasets"))]
fn patches(
    cfg: &RunConfig,
    _dir: Option<&PathBuf>,
    _points: Option<usize>,
    _need_dim: &dyn Fn(&str, usize) -> Result<(), CliError>,
) -> Result<Samples, CliError> {
    Err(field(
        cfg,
        "data.builtin",
        "\"patches\" needs symplode built with the `datasets` feature",
    ))
}
