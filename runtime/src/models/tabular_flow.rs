//! FFJORD's tabular flow (`train_tabular.py`: `num_blocks` CNF blocks, each an `ODEnet` of
//! ConcatSquash layers): [`TabularFlow`] is a chain of `M` CNF blocks of one vector field
//! `f(z, t)` on `d`-dimensional samples, each block an [`Interpreted`] model with its own
//! parameters, ready for a chained [`Problem`] and any gradient method.
//!
//! Block `b` integrates the state `[z, Δlogp]` (`d + 1` values per sample, `d Δlogp/dt =
//! −tr ∂f/∂z` as [`cnf`]) over `[b·T, (b+1)·T]`; the negative log-likelihood of a sample is
//! that of the last block's final state, [`nll_rows`] / [`nll_loss`] (the image flow's, any
//! `d`). Training uses Hutchinson's trace (a probe per block and sample, the block's auxiliary
//! input 1, [`TabularFlow::draw_probes`]); evaluation the exact one: [`TabularFlow::with_trace`]
//! gives the same flow (same parameters) with another trace, [`TabularFlow::nll`] solves the
//! blocks one after another.
//!
//! The vector field is any graph with one input `z [B, d]` and one output `[B, d]`
//! ([`TabularFlow::from_field`], e.g. a model file's layers), or FFJORD's ConcatSquash MLP
//! ([`TabularFlowConfig`], [`Graph::concat_squash_mlp`]); parameter names are the field's
//! (`layers.{i}._layer.weight`, … as FFJORD's `ODEnet`). FFJORD's BSDS300 model is
//! [`TabularFlowConfig::ffjord_bsds300`].
//!
//! ```
//! use symplode_codegen::ad::Trace;
//! use symplode_runtime::models::tabular_flow::{ProbeNoise, TabularFlow, TabularFlowConfig};
//! use symplode_runtime::models::Activation;
//! use symplode_runtime::rng::Rng;
//! use symplode_runtime::{Scheme, Stepping};
//!
//! // Two blocks of a 3 → 8 → 3 ConcatSquash net, T = 1 per block.
//! let config = TabularFlowConfig {
//!     dim: 3,
//!     hidden: vec![8],
//!     activation: Activation::Softplus,
//!     blocks: 2,
//!     time_length: 1.0,
//! };
//! let mut flow = TabularFlow::<f64>::new(&config, Trace::Hutchinson, 0)?;
//! flow.draw_probes(2, ProbeNoise::Gaussian, &mut Rng::new(1))?; // a batch of 2 samples
//! let x0 = vec![0.1; 2 * (3 + 1)]; // [z, Δlogp] rows
//! let scheme = Scheme::<f64>::builtin("rk4")?;
//! let problem = flow.problem(&scheme, &Stepping::fixed(2), &x0);
//! assert_eq!(problem.chain.len(), 2);
//! // The exact-trace NLL of samples, block after block.
//! let exact = flow.with_trace(Trace::Exact)?;
//! let nll = exact.nll(&[0.1, 0.2, 0.3], &scheme, &Stepping::fixed(2))?;
//! assert!(nll[0].is_finite());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use symplode_codegen::ad::Trace;
use symplode_codegen::ir::{Activation, Graph, IrError};

use super::image_flow::init_params;
/// The NLL of a chain's final state and its cotangent: the image flow's, for any `d`.
pub use super::image_flow::{nll_loss, nll_rows};
use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::grad::Problem;
use crate::interp::{InterpError, Interpreted, cnf};
use crate::real::Real;
use crate::rng::Rng;
use crate::scheme::Scheme;
use crate::solver::{Stepping, solve};

/// The distribution of Hutchinson's probes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProbeNoise {
    /// Standard normal (FFJORD's default).
    #[default]
    Gaussian,
    /// ±1 with equal probability (FFJORD's `--rademacher`).
    Rademacher,
}

impl ProbeNoise {
    /// One draw.
    pub fn draw(self, rng: &mut Rng) -> f64 {
        match self {
            ProbeNoise::Gaussian => rng.normal(),
            ProbeNoise::Rademacher => {
                if rng.below(2) == 0 {
                    -1.0
                } else {
                    1.0
                }
            }
        }
    }
}

/// The shape of a [`TabularFlow`] of ConcatSquash blocks.
#[derive(Clone, Debug, PartialEq)]
pub struct TabularFlowConfig {
    /// Sample dimension `d` (BSDS300: 63).
    pub dim: usize,
    /// Hidden widths of each block's ConcatSquash net.
    pub hidden: Vec<usize>,
    /// The activation between layers (FFJORD's tabular runs: softplus).
    pub activation: Activation,
    /// CNF blocks `M` (FFJORD's `num_blocks`).
    pub blocks: usize,
    /// Integration time `T` of each block.
    pub time_length: f64,
}

impl TabularFlowConfig {
    /// FFJORD's BSDS300 model (as in the paper's table): d = 63, M = 2 blocks of ConcatSquash
    /// 63-1260-1260-1260-63 with softplus, T = 1.
    pub fn ffjord_bsds300() -> Self {
        TabularFlowConfig {
            dim: 63,
            hidden: vec![1260; 3],
            activation: Activation::Softplus,
            blocks: 2,
            time_length: 1.0,
        }
    }

    /// Each block's vector field, [`Graph::concat_squash_mlp`].
    ///
    /// # Errors
    /// A zero dimension or width.
    pub fn field(&self) -> Result<Graph, IrError> {
        Graph::concat_squash_mlp(self.dim, &self.hidden, self.activation)
    }
}

/// `M` CNF blocks of one vector field with their own parameters, one trace (see the module
/// docs). The state is `[z, Δlogp]` rows of width `d + 1`; block `b` integrates over
/// `[b·T, (b+1)·T]`.
#[derive(Clone, Debug)]
pub struct TabularFlow<T: Real> {
    field: Graph,
    trace: Trace,
    time_length: f64,
    blocks: Vec<Interpreted<T>>,
}

/// The error of a bad configuration value.
fn bad(detail: String) -> InterpError {
    InterpError::from(IrError::Signature {
        context: "TabularFlow",
        detail,
    })
}

impl<T: Real> TabularFlow<T> {
    /// The ConcatSquash flow of `config` with `trace`, block `b` initialised by PyTorch's
    /// default (`nn.Linear`: uniform `±1/√fan_in`) from seed `seed + b`.
    ///
    /// # Errors
    /// No blocks, a time that is not finite and > 0, or a net [`Graph::concat_squash_mlp`]
    /// refuses.
    pub fn new(config: &TabularFlowConfig, trace: Trace, seed: u64) -> Result<Self, InterpError> {
        let f = config.field()?;
        Self::from_field(&f, config.blocks, config.time_length, trace, seed)
    }

    /// `blocks` CNF blocks of the vector field `field` (one input `z [B, d]`, one output
    /// `[B, d]`), block `b` initialised from seed `seed + b` as [`TabularFlow::new`].
    ///
    /// # Errors
    /// As [`TabularFlow::from_params`].
    pub fn from_field(
        field: &Graph,
        blocks: usize,
        time_length: f64,
        trace: Trace,
        seed: u64,
    ) -> Result<Self, InterpError> {
        let params = (0..blocks)
            .map(|b| {
                init_params(field, seed.wrapping_add(b as u64))
                    .into_iter()
                    .map(T::of)
                    .collect()
            })
            .collect();
        Self::from_params(field, time_length, trace, params)
    }

    /// The flow of `field` with each block's parameters given (`params[b]`, in the field's
    /// order): as many blocks as parameter vectors.
    ///
    /// # Errors
    /// No blocks, a time that is not finite and > 0, a field that is not a vector field of
    /// `z`, or parameters of the wrong length or not finite (naming the tensor).
    pub fn from_params(
        field: &Graph,
        time_length: f64,
        trace: Trace,
        params: Vec<Vec<T>>,
    ) -> Result<Self, InterpError> {
        if params.is_empty() {
            return Err(bad(
                "blocks: 0; a tabular flow needs at least one CNF block".into(),
            ));
        }
        if !(time_length.is_finite() && time_length > 0.0) {
            return Err(bad(format!(
                "time_length: {time_length}; must be finite and > 0"
            )));
        }
        let blocks = params
            .into_iter()
            .map(|p| cnf(field, trace, p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TabularFlow {
            field: field.clone(),
            trace,
            time_length,
            blocks,
        })
    }

    /// The same flow (same parameters, time and field) with the divergence `trace`, e.g.
    /// [`Trace::Exact`] to evaluate a flow trained with Hutchinson's estimator.
    ///
    /// # Errors
    /// Those of [`TabularFlow::from_params`] (none for a flow built by it).
    pub fn with_trace(&self, trace: Trace) -> Result<Self, InterpError> {
        let params = self.blocks.iter().map(|m| m.params().to_vec()).collect();
        Self::from_params(&self.field, self.time_length, trace, params)
    }

    /// Sample dimension `d`.
    pub fn dim(&self) -> usize {
        self.blocks[0].dim() - 1
    }

    /// The vector field `f(z, t)` of every block (before the CNF transform).
    pub fn field(&self) -> &Graph {
        &self.field
    }

    /// The divergence the blocks compute.
    pub fn trace(&self) -> Trace {
        self.trace
    }

    /// Each block's integration time `T`.
    pub fn time_length(&self) -> f64 {
        self.time_length
    }

    /// Block `b`'s interval `[b·T, (b+1)·T]`.
    pub fn interval(&self, b: usize) -> [f64; 2] {
        [
            b as f64 * self.time_length,
            (b + 1) as f64 * self.time_length,
        ]
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

    /// Fresh Hutchinson probes for `batch` samples in every block, block after block
    /// (`batch·d` draws each); nothing for the exact trace.
    ///
    /// # Errors
    /// Those of [`Interpreted::set_aux`] (none for a batch ≥ 1).
    pub fn draw_probes(
        &mut self,
        batch: usize,
        noise: ProbeNoise,
        rng: &mut Rng,
    ) -> Result<(), InterpError> {
        if self.trace == Trace::Exact {
            return Ok(());
        }
        let n = batch * self.dim();
        for m in &mut self.blocks {
            let eps: Vec<T> = (0..n).map(|_| T::of(noise.draw(rng))).collect();
            m.set_aux(1, &eps)?;
        }
        Ok(())
    }

    /// The chained problem from `x0` (`[z, Δlogp]` rows): block `b` over `[b·T, (b+1)·T]`.
    pub fn problem<'a>(
        &'a self,
        scheme: &'a Scheme<T>,
        stepping: &Stepping,
        x0: &'a [T],
    ) -> Problem<'a, T> {
        self.problem_over(scheme, stepping, x0, self.time_length)
    }

    /// [`TabularFlow::problem`] with every block integrated over `time_length` instead of the
    /// flow's own (as [`ImageFlow::problem_over`](super::ImageFlow::problem_over)).
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

    /// `−log p(x)` (nats) of every sample of `samples` (`[n·d]`): `[x, 0]` solved through
    /// the blocks one after another, then [`nll_rows`]. With the exact trace this is the
    /// flow's log-density; with Hutchinson's it uses the blocks' current probes (drawn for
    /// `n` samples).
    ///
    /// # Errors
    /// `samples` not a whole number of rows, or a solver failure (e.g. probes of another
    /// batch size).
    pub fn nll(
        &self,
        samples: &[T],
        scheme: &Scheme<T>,
        stepping: &Stepping,
    ) -> Result<Vec<f64>, SolveError> {
        let d = self.dim();
        if samples.is_empty() || !samples.len().is_multiple_of(d) {
            return Err(SolveError::Length {
                what: format!("samples of a {d}-dimensional tabular flow"),
                expected: d * (samples.len() / d).max(1),
                got: samples.len(),
            });
        }
        let mut x: Vec<T> = samples
            .chunks_exact(d)
            .flat_map(|s| s.iter().copied().chain([T::zero()]))
            .collect();
        for (b, m) in self.blocks.iter().enumerate() {
            let sol = solve(m, scheme, stepping, &self.interval(b), &x)?;
            if let Some(last) = sol.states.last() {
                x.copy_from_slice(last);
            }
        }
        Ok(nll_rows(&x, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(trace: Trace) -> TabularFlow<f64> {
        let config = TabularFlowConfig {
            dim: 3,
            hidden: vec![8, 8],
            activation: Activation::Softplus,
            blocks: 2,
            time_length: 0.7,
        };
        TabularFlow::new(&config, trace, 4).unwrap()
    }

    /// The exact-trace NLL against Hutchinson's estimator with unit probes: the `z` path does
    /// not depend on the probe and a fixed-step Runge–Kutta solve is linear in the Δlogp
    /// integrand, so `Σᵢ Δlogp(eᵢ)` over the `d` unit probes (each sample repeated `d` times)
    /// is the exact `Δlogp` — forward-mode JVPs on one side, reverse-mode VJPs on the other.
    #[test]
    fn exact_nll_is_the_sum_over_unit_probes() {
        let scheme = Scheme::<f64>::builtin("rk4").unwrap();
        let stepping = Stepping::fixed(3);
        let samples = [0.3, -1.1, 0.5, 1.4, 0.2, -0.8];
        let exact = flow(Trace::Exact)
            .nll(&samples, &scheme, &stepping)
            .unwrap();
        let mut hutch = flow(Trace::Hutchinson);
        let d = 3;
        let (n, reps) = (2, 3);
        let mut eps = vec![0.0; n * reps * d];
        for s in 0..n {
            for i in 0..reps {
                eps[(s * reps + i) * d + i] = 1.0;
            }
        }
        for m in hutch.blocks_mut() {
            m.set_aux(1, &eps).unwrap();
        }
        let mut x0 = Vec::new();
        for s in samples.chunks_exact(d) {
            for _ in 0..reps {
                x0.extend_from_slice(s);
                x0.push(0.0);
            }
        }
        let mut x = x0.clone();
        for (b, m) in hutch.blocks().iter().enumerate() {
            let sol = solve(m, &scheme, &stepping, &hutch.interval(b), &x).unwrap();
            x.copy_from_slice(sol.states.last().unwrap());
        }
        let log_2pi = (2.0 * std::f64::consts::PI).ln();
        for s in 0..n {
            let rows = &x[s * reps * (d + 1)..(s + 1) * reps * (d + 1)];
            let z = &rows[..d];
            let dlogp: f64 = rows.chunks_exact(d + 1).map(|r| r[d]).sum();
            let want = 0.5 * z.iter().map(|v| v * v).sum::<f64>() + 0.5 * 3.0 * log_2pi + dlogp;
            assert!(dlogp.abs() > 1e-5, "a trace that matters: {dlogp}");
            assert!(
                (exact[s] - want).abs() <= 1e-12 * want.abs(),
                "sample {s}: exact {} vs unit probes {want}",
                exact[s]
            );
        }
    }

    /// `with_trace` keeps the parameters; block `b` starts from seed `seed + b`; bad input is an
    /// error, not a panic.
    #[test]
    fn traces_seeds_and_errors() {
        let h = flow(Trace::Hutchinson);
        let e = h.with_trace(Trace::Exact).unwrap();
        assert_eq!(e.trace(), Trace::Exact);
        for (a, b) in h.blocks().iter().zip(e.blocks()) {
            assert_eq!(a.params(), b.params());
        }
        assert_ne!(h.blocks()[0].params(), h.blocks()[1].params());
        let one = init_params(h.field(), 5);
        assert_eq!(h.blocks()[1].params(), &one[..]);
        assert_eq!(h.n_params(), 2 * one.len());
        assert_eq!(h.interval(1), [0.7, 1.4]);
        let bad = |r: Result<TabularFlow<f64>, InterpError>, what: &str| {
            let e = r.unwrap_err().to_string();
            assert!(e.contains(what), "{what}: {e}");
        };
        bad(
            TabularFlow::from_field(h.field(), 0, 1.0, Trace::Exact, 0),
            "blocks",
        );
        bad(
            TabularFlow::from_field(h.field(), 2, f64::NAN, Trace::Exact, 0),
            "time_length",
        );
        bad(
            TabularFlow::from_params(h.field(), 1.0, Trace::Exact, vec![vec![0.0; 3]]),
            "parameter",
        );
        let scheme = Scheme::<f64>::builtin("rk4").unwrap();
        assert!(e.nll(&[0.0; 4], &scheme, &Stepping::fixed(1)).is_err());
    }
}
