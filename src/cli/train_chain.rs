//! `symplode train --config run.toml` with a chain of CNF blocks ([`FlowChain`]): FFJORD's
//! multiscale image flow (`form = "image_flow"` whose `scales`/`blocks` give more than one
//! block, `ODENVP`) on Fashion-MNIST (or `.npy` samples of the image's size), or FFJORD's
//! tabular flow (`form = "cnf"` with `blocks = M > 1`) on samples, a toy density or the
//! patches. One Hutchinson probe per block and sample in the batch rows (a tabular flow may
//! also train with the exact trace); NLL (and an image's bits/dim) over all coordinates.
//! Afterwards an image flow writes a sample grid (see `docs/train-images.md`); a tabular flow
//! is validated and tested with the exact trace and, in 2-D, writes its density and samples.

use symplode::io::SafeTensors;
use symplode::runtime::rng::Rng;
use symplode::train::flow::{FlowSamples, FlowTrace};
use symplode::train::{Collective, DataSource, FlowChain, FlowSpec, Loss, RunConfig, TrainModel};

use super::load::CliReal;
use super::train::{Setup, TrainArgs, field};
use super::train_flow::VALIDATION_SALT;
use super::{CliError, density, image_grid};

/// Salt of the sample grid's latent draws.
const SAMPLE_SALT: u64 = 0x05A3_B1E5;
/// Images in the sample grid.
const GRID_SAMPLES: usize = 64;
/// Most samples drawn for a 2-D tabular flow's `samples.png`.
const SAMPLES_2D: usize = 20_000;

/// Trains the chain of `spec` (a [`FlowSpec::is_chain`] file).
pub(super) fn run<T: CliReal>(
    cfg: &RunConfig,
    args: &TrainArgs,
    world: &dyn Collective,
    spec: &FlowSpec,
    out: &mut String,
) -> Result<(), CliError> {
    let params = match &cfg.weights {
        Some(w) => Some(
            SafeTensors::read(w)
                .and_then(|st| spec.read_params(&st))
                .map_err(|e| field(cfg, "weights", e))?,
        ),
        None => None,
    };
    let mut chain: FlowChain<T> = spec
        .build_chain(params.as_deref(), cfg.seed)
        .map_err(|e| field(cfg, "model", e))?;
    let (d, k) = (spec.dim, chain.blocks());
    let tabular = spec.chain().is_none();
    if !tabular && !matches!(spec.trace, FlowTrace::Hutchinson(_)) {
        return Err(field(
            cfg,
            "model",
            "a multiscale flow needs trace = \"hutchinson\"",
        ));
    }
    let (train, held, test, bits) = match &cfg.data {
        DataSource::FashionMnist { dir, points } if !tabular => {
            let f = super::train_image::fashion(cfg, spec, dir.as_ref(), *points)?;
            (f.train, Some(f.validation), None, Some(f.bits))
        }
        DataSource::Samples { .. } => {
            let s = super::train_flow::samples(cfg, d)?;
            (s.train, s.validation, s.test, None)
        }
        DataSource::Toy { .. } | DataSource::Patches { .. } if tabular => {
            let s = super::train_flow::samples(cfg, d)?;
            (s.train, s.validation, s.test, None)
        }
        _ if tabular => {
            return Err(field(
                cfg,
                "data",
                format!(
                    "{} is a tabular flow of {k} CNF blocks: give `samples` (.npy [n, {d}]) or \
                     a `builtin` (a toy density, \"patches\")",
                    cfg.model.display()
                ),
            ));
        }
        _ => {
            return Err(field(
                cfg,
                "data",
                format!(
                    "{} is a multiscale image flow: give builtin = \"fashion-mnist\" or \
                     `samples` (.npy [n, {d}])",
                    cfg.model.display()
                ),
            ));
        }
    };
    let mut data = FlowSamples::new(train, d, cfg.batch, spec.trace, spec.time_length)
        .map_err(|e| CliError(format!("{}: {e}", cfg.origin)))?
        .with_probes(k);
    // A tabular chain is validated (and tested) with the exact trace: rows [x, 0] and a
    // twin chain receiving the training parameters; an image chain with fixed probes.
    let eval_trace = if tabular {
        FlowTrace::Exact
    } else {
        spec.trace
    };
    let mut validation_model: Option<Box<dyn TrainModel<T>>> = None;
    let validation = match cfg.validation {
        None => None,
        Some((fraction, every, early)) => {
            let rows = match held {
                Some(rows) => rows,
                None => data
                    .split_validation(fraction, cfg.seed)
                    .map_err(|e| CliError(format!("{}: {e}", cfg.origin)))?,
            };
            let mut rng = Rng::new(cfg.seed ^ VALIDATION_SALT);
            let batch = FlowSamples::states_with_probes::<T>(
                &rows,
                d,
                eval_trace,
                k,
                spec.time_length,
                &mut rng,
            );
            if eval_trace != spec.trace {
                validation_model = Some(Box::new(chain.exact()?));
            }
            Some((batch, every, early))
        }
    };
    // The state is [z, Δlogp] (the probes are the blocks' inputs, not state): FFJORD's step
    // control, no tolerance scaling.
    let mut setup = Setup::<T>::new(cfg, spec.tableau(), &spec.solver, spec.origin(), args)?
        .with_loss(Loss::Nll { dim: d });
    if let Some(b) = bits {
        setup = setup.with_bits_per_dim(b);
    }
    setup.train_model(
        cfg,
        args,
        world,
        &mut chain,
        &data,
        validation,
        validation_model,
        out,
    )?;
    if world.rank() != 0 {
        return Ok(());
    }
    if tabular {
        return tabular_outputs(cfg, args, &setup, &chain, test.as_deref(), &data, out);
    }
    if bits.is_some() {
        let path = cfg.out.join("samples.png");
        let mut rng = Rng::new(cfg.seed ^ SAMPLE_SALT);
        let z: Vec<T> = (0..GRID_SAMPLES * d).map(|_| T::of(rng.normal())).collect();
        let x = chain
            .sample(&z, setup.scheme(), setup.stepping())
            .map_err(|e| CliError(format!("{}: sampling the flow: {e}", path.display())))?;
        let image = spec.chain().map_or([1, 1, d], |c| c.image);
        let pixels: Vec<f64> = x
            .iter()
            .map(|v| image_grid::logit_to_pixel(v.f64()))
            .collect();
        image_grid::write(&path, &pixels, image, 8)?;
        if !args.json {
            out.push_str(&format!(
                "{:<12}{} ({GRID_SAMPLES} samples: z ~ N(0, I) through the {k} blocks backwards)\n",
                "samples",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Test samples solved at a time by [`tabular_outputs`].
const TEST_CHUNK: usize = 1000;

/// After training a tabular chain (rank 0): the test NLL with the exact trace (datasets with
/// a test split) and, in 2-D, `density.png` (training samples, learned density) and
/// `samples.png` (model samples, learned density).
fn tabular_outputs<T: CliReal>(
    cfg: &RunConfig,
    args: &TrainArgs,
    setup: &Setup<T>,
    chain: &FlowChain<T>,
    test: Option<&[f64]>,
    data: &FlowSamples,
    out: &mut String,
) -> Result<(), CliError> {
    let mut exact = chain.exact()?;
    let (d, k) = (chain.dim(), chain.blocks());
    let Some(flow) = exact.tabular_flow() else {
        return Ok(());
    };
    let (scheme, stepping) = (setup.scheme(), setup.stepping());
    if let Some(test) = test.filter(|t| !t.is_empty()) {
        let mut total = 0.0;
        for part in test.chunks(TEST_CHUNK * d) {
            let rows: Vec<T> = part.iter().map(|&v| T::of(v)).collect();
            let nll = flow
                .nll(&rows, scheme, stepping)
                .map_err(|e| CliError(format!("{}: test NLL: {e}", cfg.origin)))?;
            total += nll.iter().sum::<f64>();
        }
        let n = test.len() / d;
        if !args.json {
            out.push_str(&format!(
                "{:<12}{:.6e} nats ({n} test samples, exact trace)\n",
                "test nll",
                total / n as f64
            ));
        }
    }
    if d != 2 {
        return Ok(());
    }
    let pts = density::grid_points();
    let mut logp = Vec::with_capacity(pts.len());
    for part in pts.chunks(4096) {
        let rows: Vec<T> = part.iter().flatten().map(|&v| T::of(v)).collect();
        let nll = flow
            .nll(&rows, scheme, stepping)
            .map_err(|e| CliError(format!("{}: density plot: {e}", cfg.origin)))?;
        logp.extend(nll.iter().map(|v| -v));
    }
    let cell = 2.0 * density::BOX / density::GRID as f64;
    let mass = logp.iter().map(|l| l.exp()).sum::<f64>() * cell * cell;
    let path = cfg.out.join("density.png");
    density::write(&path, data.samples(), &logp)?;
    let mut rng = Rng::new(cfg.seed ^ SAMPLE_SALT);
    let n = data.len().min(SAMPLES_2D);
    let z: Vec<T> = (0..n * d).map(|_| T::of(rng.normal())).collect();
    let x = exact
        .sample(&z, scheme, stepping)
        .map_err(|e| CliError(format!("{}: sampling the flow: {e}", cfg.origin)))?;
    let xs: Vec<f64> = x.iter().map(|v| v.f64()).collect();
    let spath = cfg.out.join("samples.png");
    density::write(&spath, &xs, &logp)?;
    if !args.json {
        out.push_str(&format!(
            "{:<12}{} (exact-trace density, mass {mass:.4} on [-{b}, {b}]²)\n\
             {:<12}{} ({n} samples: z ~ N(0, I) through the {k} blocks backwards; right: the \
             density)\n",
            "density",
            path.display(),
            "samples",
            spath.display(),
            b = density::BOX
        ));
    }
    Ok(())
}
