//! `symplode train --config run.toml` with a multiscale image flow (`form = "image_flow"`
//! whose `scales`/`blocks` give more than one CNF block): FFJORD's `ODENVP` chain
//! ([`FlowChain`]) on Fashion-MNIST (or `.npy` samples of the image's size), one Hutchinson
//! probe per block and image in the batch rows, NLL and bits/dim over all coordinates
//! (factored-out ones included), then a sample grid (see `docs/train-images.md`).

use symplode::io::SafeTensors;
use symplode::runtime::rng::Rng;
use symplode::train::flow::{FlowSamples, FlowTrace};
use symplode::train::{Collective, DataSource, FlowChain, FlowSpec, Loss, RunConfig};

use super::load::CliReal;
use super::train::{Setup, TrainArgs, field};
use super::train_flow::VALIDATION_SALT;
use super::{CliError, image_grid};

/// Salt of the sample grid's latent draws.
const SAMPLE_SALT: u64 = 0x05A3_B1E5;
/// Images in the sample grid.
const GRID_SAMPLES: usize = 64;

/// Trains the multiscale flow of `spec` (a [`FlowSpec::chain`] file).
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
    let FlowTrace::Hutchinson(_) = spec.trace else {
        return Err(field(
            cfg,
            "model",
            "a multiscale flow needs trace = \"hutchinson\"",
        ));
    };
    let (train, held, bits) = match &cfg.data {
        DataSource::FashionMnist { dir, points } => {
            let f = super::train_image::fashion(cfg, spec, dir.as_ref(), *points)?;
            (f.train, Some(f.validation), Some(f.bits))
        }
        DataSource::Samples { .. } => {
            let (t, h) = super::train_flow::samples(cfg, d)?;
            (t, h, None)
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
                spec.trace,
                k,
                spec.time_length,
                &mut rng,
            );
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
    setup.train_model(cfg, args, world, &mut chain, &data, validation, None, out)?;
    if world.rank() == 0 && bits.is_some() {
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
