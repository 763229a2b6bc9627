//! FFJORD's multiscale image flow (`ODENVP` with `ODEnet(…, layer_type="concat")`), built from
//! the IR's 2-D convolutions: [`ImageFlow`] is a chain of CNF blocks (Hutchinson trace), each
//! an [`Interpreted`] model, ready for a chained [`Problem`] and any gradient method.
//!
//! Every CNF block integrates the whole state (the `c·h·w` image values + Δlogp) over
//! `[b, b + 1]`; a block at a coarser scale reads the state squeezed `s` times (2×2
//! space-to-channel, FFJORD's `SqueezeLayer(2)`), runs its ODE net on the first `channels`
//! channels (the ones FFJORD keeps after factoring out half at each scale) and leaves the
//! other coordinates fixed (zero velocity), unsqueezing its output. Because squeezing maps
//! channel `k` to channels `4k..4k + 3`, the kept prefix of every scale is a prefix of the
//! next scale's squeeze, so this is FFJORD's model (its factored-out parts are also scored
//! under N(0, I) at the end, [`nll_rows`]). One difference: adaptive step control sees every
//! coordinate (the fixed ones add zero error), where FFJORD's solver sees only the block's own.
//!
//! The ODE net of a block: `ConcatConv2d(c, h₁, 3, 1, 1)`, softplus, …,
//! `ConcatConv2d(h_last, c, 3, 1, 1)` — the time as an extra first input channel of every
//! layer; parameter names `layers.{i}._layer.weight` / `.bias` as FFJORD's `ODEnet`. The
//! block sequence ([`architecture`], [`BlockSpec`]) and the graphs ([`block_net`]) are
//! built in `symplode_codegen::ir::image_flow` (re-exported here), where `neural_ode!`'s
//! `form: multiscale(…)` builds the same graphs at expansion time.
//!
//! ```
//! use symplode_runtime::models::image_flow::{ImageFlow, ImageFlowConfig};
//! use symplode_runtime::rng::Rng;
//! use symplode_runtime::{Scheme, Stepping};
//!
//! // Two scales on 1 × 8 × 8 images, one block per side of the squeeze, 4-4 hidden channels.
//! let config = ImageFlowConfig { image: [1, 8, 8], scales: 2, blocks: 1, hidden: vec![4, 4] };
//! let mut flow = ImageFlow::<f64>::new(&config, 0)?;
//! assert_eq!(flow.blocks().len(), 3);
//! flow.draw_probes(2, &mut Rng::new(1))?; // Rademacher noise for a batch of 2 images
//! let x0 = vec![0.1; 2 * (64 + 1)]; // [image, Δlogp] rows
//! let scheme = Scheme::<f64>::builtin("rk4")?;
//! let problem = flow.problem(&scheme, &Stepping::fixed(2), &x0);
//! assert_eq!(problem.chain.len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use symplode_codegen::ad::Trace;
/// The block sequence and each block's graph are the IR's (`symplode_codegen::ir::image_flow`),
/// so `neural_ode!`'s `form: multiscale(…)` builds the same graphs.
pub use symplode_codegen::ir::image_flow::{BlockSpec, architecture, block_net};
use symplode_codegen::ir::{Graph, IrError};

use crate::dynamics::Dynamics;
use crate::grad::{Outputs, Problem};
use crate::interp::{InterpError, Interpreted, cnf};
use crate::real::Real;
use crate::rng::Rng;
use crate::scheme::Scheme;
use crate::solver::Stepping;

/// PyTorch's default initialisation: every tensor uniform in `±1/√fan_in`, `fan_in` the
/// product of a weight's dimensions after the first (a bias takes its weight's).
pub fn init_params(g: &Graph, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(g.param_len());
    let mut fan_in = 1usize;
    for p in g.params() {
        if p.shape.len() >= 2 {
            fan_in = p.shape[1..].iter().product();
        }
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        let n: usize = p.shape.iter().product();
        out.extend((0..n).map(|_| rng.uniform_range(-bound, bound)));
    }
    out
}

/// Rademacher noise (±1), FFJORD's `--rademacher` Hutchinson probe.
pub fn rademacher<T: Real>(n: usize, rng: &mut Rng) -> Vec<T> {
    (0..n)
        .map(|_| T::of(if rng.below(2) == 0 { -1.0 } else { 1.0 }))
        .collect()
}

/// `−log p(y)` in nats of each row `[z, Δlogp]` (`d` image values) of a final state:
/// `½|z|² + (d/2) log 2π + Δlogp` (Δlogp integrates `+tr ∂f/∂z`).
pub fn nll_rows<T: Real>(state: &[T], d: usize) -> Vec<f64> {
    let log_2pi = (2.0 * std::f64::consts::PI).ln();
    state
        .chunks_exact(d + 1)
        .map(|r| {
            let sq: f64 = r[..d].iter().map(|v| v.f64() * v.f64()).sum();
            0.5 * sq + 0.5 * d as f64 * log_2pi + r[d].f64()
        })
        .collect()
}

/// Mean `−log p(y)` (nats per image, `d` values each) of the last block's final state, with
/// its cotangent written into `cot` (NaN when there is no output).
pub fn nll_loss<T: Real>(out: &Outputs<T>, cot: &mut Outputs<T>, d: usize) -> f64 {
    let (Some(last), Some(c)) = (
        out.last().and_then(|o| o.last()),
        cot.last_mut().and_then(|o| o.last_mut()),
    ) else {
        return f64::NAN;
    };
    let rows = nll_rows(last, d);
    let inv = T::of(1.0 / rows.len().max(1) as f64);
    for (cr, r) in c.chunks_exact_mut(d + 1).zip(last.chunks_exact(d + 1)) {
        for k in 0..d {
            cr[k] = r[k] * inv;
        }
        cr[d] = inv;
    }
    rows.iter().sum::<f64>() / rows.len().max(1) as f64
}

/// The shape of an [`ImageFlow`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFlowConfig {
    /// The image `[channels, height, width]`.
    pub image: [usize; 3],
    /// Scales (FFJORD's MNIST: 3).
    pub scales: usize,
    /// CNF blocks on each side of a squeeze (FFJORD: 2).
    pub blocks: usize,
    /// Hidden channels of each block's ODE net (FFJORD: 64-64-64).
    pub hidden: Vec<usize>,
}

impl ImageFlowConfig {
    /// FFJORD's MNIST model: 1 × 28 × 28, 3 scales, 2 blocks, hidden 64-64-64 (10 CNF blocks,
    /// 800,636 parameters).
    pub fn ffjord_mnist() -> Self {
        ImageFlowConfig {
            image: [1, 28, 28],
            scales: 3,
            blocks: 2,
            hidden: vec![64, 64, 64],
        }
    }

    /// Values per image, `c·h·w`.
    pub fn dim(&self) -> usize {
        self.image.iter().product()
    }
}

/// FFJORD's multiscale image flow: the CNF blocks (Hutchinson trace; the probe is each
/// block's auxiliary input 1) and their vector fields. The state is `[image, Δlogp]` rows of
/// width `dim + 1`; block `b` integrates over `[b, b + 1]`.
#[derive(Clone, Debug)]
pub struct ImageFlow<T: Real> {
    config: ImageFlowConfig,
    specs: Vec<BlockSpec>,
    fields: Vec<Graph>,
    blocks: Vec<Interpreted<T>>,
}

impl<T: Real> ImageFlow<T> {
    /// The flow of `config`, block `b` initialised by [`init_params`] with seed `seed + b`.
    ///
    /// # Errors
    /// A configuration whose blocks cannot be built ([`block_net`]), e.g. an image side not
    /// divisible by `2^(scales − 1)`, or no scales/blocks.
    pub fn new(config: &ImageFlowConfig, seed: u64) -> Result<Self, InterpError> {
        let specs = architecture(config.image[0], config.scales, config.blocks);
        if specs.is_empty() {
            return Err(InterpError::from(IrError::Signature {
                context: "ImageFlow::new",
                detail: "scales and blocks must be at least 1".into(),
            }));
        }
        let mut fields = Vec::with_capacity(specs.len());
        let mut blocks = Vec::with_capacity(specs.len());
        for (b, s) in specs.iter().enumerate() {
            let f = block_net(config.image, *s, &config.hidden)?;
            let p = init_params(&f, seed.wrapping_add(b as u64));
            blocks.push(cnf(
                &f,
                Trace::Hutchinson,
                p.into_iter().map(T::of).collect(),
            )?);
            fields.push(f);
        }
        Ok(ImageFlow {
            config: config.clone(),
            specs,
            fields,
            blocks,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ImageFlowConfig {
        &self.config
    }

    /// The block sequence.
    pub fn specs(&self) -> &[BlockSpec] {
        &self.specs
    }

    /// Each block's vector field `f` (before the CNF transform), e.g. to sample backwards.
    pub fn fields(&self) -> &[Graph] {
        &self.fields
    }

    /// The CNF blocks.
    pub fn blocks(&self) -> &[Interpreted<T>] {
        &self.blocks
    }

    /// The CNF blocks, mutable (parameters, probes).
    pub fn blocks_mut(&mut self) -> &mut [Interpreted<T>] {
        &mut self.blocks
    }

    /// Parameters of all blocks.
    pub fn n_params(&self) -> usize {
        self.blocks.iter().map(|m| m.n_params()).sum()
    }

    /// Fresh Rademacher probes for `batch` images in every block.
    ///
    /// # Errors
    /// Those of [`Interpreted::set_aux`] (none for a batch ≥ 1).
    pub fn draw_probes(&mut self, batch: usize, rng: &mut Rng) -> Result<(), InterpError> {
        let n = batch * self.config.dim();
        for m in &mut self.blocks {
            m.set_aux(1, &rademacher::<T>(n, rng))?;
        }
        Ok(())
    }

    /// The chained problem: block `b` over `[b, b + 1]` from `x0` (`[image, Δlogp]` rows).
    pub fn problem<'a>(
        &'a self,
        scheme: &'a Scheme<T>,
        stepping: &Stepping,
        x0: &'a [T],
    ) -> Problem<'a, T> {
        self.problem_over(scheme, stepping, x0, 1.0)
    }

    /// [`ImageFlow::problem`] with every block integrated over a time `time_length`: block
    /// `b` over `[b·T, (b+1)·T]` (FFJORD's `time_length`; `T = 1` is [`ImageFlow::problem`]).
    pub fn problem_over<'a>(
        &'a self,
        scheme: &'a Scheme<T>,
        stepping: &Stepping,
        x0: &'a [T],
        time_length: f64,
    ) -> Problem<'a, T> {
        Problem::blocks(
            self.blocks.iter().map(|m| m as &dyn Dynamics<T>),
            time_length,
            scheme,
            stepping,
            x0,
        )
    }
}
