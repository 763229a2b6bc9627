//! [`FlowChain`]: FFJORD's multiscale image flow (the library's [`ImageFlow`], `K` CNF blocks
//! with the Hutchinson trace) as a [`TrainModel`]: one flat parameter vector (the blocks'
//! parameters concatenated in block order, tensors `blocks.{b}.layers.{i}._layer.weight` /
//! `.bias`), block `b` integrated over `[b·T, (b+1)·T]`, the state `[z, Δlogp]` (`D + 1`
//! values per image).
//!
//! **Probes in the rows.** Every block draws its own Hutchinson probe per image and
//! iteration. The probes travel in the batch's rows, `[x, 0, ε₀, …, ε_{K−1}]` (`D + 1 + K·D`
//! values, [`FlowSamples::with_probes`](super::flow::FlowSamples::with_probes)), drawn with
//! the batch from the iteration's generator; [`TrainModel::prepare`] hands each block its
//! probes (the block's auxiliary input) and keeps `[x, 0]` as the start state. So a sample's
//! probes depend only on (seed, iteration, position in the global batch): shards, MPI ranks
//! and resuming do not change them, as for the one-block flows' noise in the state. With
//! `T = 1` the problem is [`ImageFlow::problem`] exactly, so the gradient is the library's
//! bit for bit.
//!
//! **Sampling.** [`FlowChain::sample`]: `z ~ N(0, I)` on all `D` coordinates (the factored-out
//! ones included) integrated backwards through the blocks' vector fields, last block first.

use symplode_runtime::grad::Problem;
use symplode_runtime::interp::Interpreted;
use symplode_runtime::models::image_flow::{ImageFlow, ImageFlowConfig};
use symplode_runtime::solver::solve;
use symplode_runtime::{Dynamics, ParamTensor, Real, Scheme, SolveError, Stepping};

use super::{Batch, Reversed, TrainError, TrainModel};

/// FFJORD's multiscale image flow with one flat parameter vector (see the module docs).
#[derive(Clone, Debug)]
pub struct FlowChain<T: Real> {
    flow: ImageFlow<T>,
    params: Vec<T>,
    /// Start of each block's parameters in `params`, then the total.
    offsets: Vec<usize>,
    time: f64,
    x0: Vec<T>,
}

impl<T: Real> FlowChain<T> {
    /// The flow of `config` (block `b` initialised with seed `seed + b`, as
    /// [`ImageFlow::new`]), each block integrated over a time `time_length`.
    ///
    /// # Errors
    /// A configuration [`ImageFlow::new`] refuses, or a time that is not finite and > 0.
    pub fn new(config: &ImageFlowConfig, time_length: f64, seed: u64) -> Result<Self, TrainError> {
        let flow = ImageFlow::new(config, seed).map_err(|e| TrainError::Config {
            field: "model",
            reason: e.to_string(),
        })?;
        Self::from_flow(flow, time_length)
    }

    /// The chain of an existing library flow (its blocks' current parameters).
    ///
    /// # Errors
    /// A time that is not finite and > 0.
    pub fn from_flow(flow: ImageFlow<T>, time_length: f64) -> Result<Self, TrainError> {
        if !(time_length.is_finite() && time_length > 0.0) {
            return Err(TrainError::Config {
                field: "time_length",
                reason: format!("{time_length}; must be finite and > 0"),
            });
        }
        let mut offsets = vec![0];
        let mut params = Vec::with_capacity(flow.n_params());
        for m in flow.blocks() {
            params.extend_from_slice(m.params());
            offsets.push(params.len());
        }
        Ok(FlowChain {
            flow,
            params,
            offsets,
            time: time_length,
            x0: Vec::new(),
        })
    }

    /// Sets every parameter from `params` (in [`TrainModel::params`]' order).
    ///
    /// # Errors
    /// A length other than the model's parameter count.
    pub fn set_params(&mut self, params: &[f64]) -> Result<(), TrainError> {
        if params.len() != self.params.len() {
            return Err(TrainError::Data {
                what: "parameters".into(),
                reason: format!(
                    "{} values for a flow of {} parameters",
                    params.len(),
                    self.params.len()
                ),
            });
        }
        for (p, &v) in self.params.iter_mut().zip(params) {
            *p = T::of(v);
        }
        self.sync();
        Ok(())
    }

    /// The library flow, its blocks holding the current parameters.
    pub fn flow(&mut self) -> &ImageFlow<T> {
        self.sync();
        &self.flow
    }

    /// Values per image, `D = c·h·w`.
    pub fn dim(&self) -> usize {
        self.flow.config().dim()
    }

    /// The number of CNF blocks `K`.
    pub fn blocks(&self) -> usize {
        self.flow.blocks().len()
    }

    /// Each block's integration time `T`.
    pub fn time_length(&self) -> f64 {
        self.time
    }

    /// Block `b`'s interval `[b·T, (b+1)·T]`.
    pub fn interval(&self, b: usize) -> [f64; 2] {
        [b as f64 * self.time, (b + 1) as f64 * self.time]
    }

    /// Copies the flat parameters into the blocks.
    fn sync(&mut self) {
        for (b, m) in self.flow.blocks_mut().iter_mut().enumerate() {
            m.params_mut()
                .copy_from_slice(&self.params[self.offsets[b]..self.offsets[b + 1]]);
        }
    }

    /// Model samples: the `n·D` values `z` (rows drawn from N(0, I)) integrated backwards
    /// through the blocks' vector fields, last block first; the data-space rows (for an image
    /// flow on Fashion-MNIST: logit pixels).
    ///
    /// # Errors
    /// A solver failure, or `z` not a whole number of rows.
    pub fn sample(
        &mut self,
        z: &[T],
        scheme: &Scheme<T>,
        stepping: &Stepping,
    ) -> Result<Vec<T>, SolveError> {
        self.sync();
        let mut x = z.to_vec();
        for (b, (f, m)) in self
            .flow
            .fields()
            .iter()
            .zip(self.flow.blocks())
            .enumerate()
            .rev()
        {
            let field = Interpreted::new(f.clone(), m.params().to_vec()).map_err(|_| {
                SolveError::BadOption {
                    name: "flow block",
                    value: b.to_string(),
                    reason: "its vector field cannot be built",
                }
            })?;
            let rev = Reversed {
                inner: field,
                t1: self.interval(b)[1],
            };
            let sol = solve(&rev, scheme, stepping, &[0.0, self.time], &x)?;
            if let Some(last) = sol.states.last() {
                x.copy_from_slice(last);
            }
        }
        Ok(x)
    }
}

impl<T: Real> TrainModel<T> for FlowChain<T> {
    fn row_width(&self) -> usize {
        let d = self.dim();
        d + 1 + self.blocks() * d
    }

    fn params(&self) -> &[T] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [T] {
        &mut self.params
    }

    fn param_tensors(&self) -> Vec<ParamTensor> {
        let mut out = Vec::new();
        for (b, m) in self.flow.blocks().iter().enumerate() {
            out.extend(m.param_tensors().into_iter().map(|t| ParamTensor {
                name: format!("blocks.{b}.{}", t.name),
                shape: t.shape,
                offset: t.offset + self.offsets[b],
            }));
        }
        out
    }

    fn dynamics(&self) -> Option<&dyn Dynamics<T>> {
        None
    }

    fn prepare(&mut self, batch: &Batch<T>) -> Result<(), TrainError> {
        let (d, width) = (self.dim(), self.row_width());
        if batch.x0.is_empty() || !batch.x0.len().is_multiple_of(width) {
            return Err(TrainError::Data {
                what: "x0".into(),
                reason: format!(
                    "{} values is not a non-empty multiple of the row width {width} \
                     ([x, Δlogp] and {} probes of {d})",
                    batch.x0.len(),
                    self.blocks()
                ),
            });
        }
        self.sync();
        let n = batch.x0.len() / width;
        self.x0.clear();
        for row in batch.x0.chunks_exact(width) {
            self.x0.extend_from_slice(&row[..d + 1]);
        }
        let mut probe = Vec::with_capacity(n * d);
        for (b, m) in self.flow.blocks_mut().iter_mut().enumerate() {
            probe.clear();
            let at = d + 1 + b * d;
            for row in batch.x0.chunks_exact(width) {
                probe.extend_from_slice(&row[at..at + d]);
            }
            m.set_aux(1, &probe).map_err(|e| TrainError::Data {
                what: format!("probes of block {b}"),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }

    fn problem<'s>(
        &'s self,
        _batch: &'s Batch<T>,
        scheme: &'s Scheme<T>,
        stepping: Stepping,
    ) -> Problem<'s, T> {
        self.flow
            .problem_over(scheme, &stepping, &self.x0, self.time)
    }
}
