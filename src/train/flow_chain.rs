//! [`FlowChain`]: a chain of `K` CNF blocks as a [`TrainModel`] — FFJORD's multiscale image
//! flow (the library's [`ImageFlow`], Hutchinson trace) or FFJORD's tabular flow (the
//! library's [`TabularFlow`], `M` blocks of one vector field, Hutchinson or exact trace): one
//! flat parameter vector (the blocks' parameters concatenated in block order, tensors
//! `blocks.{b}.` + the block's own names, e.g. `blocks.{b}.layers.{i}._layer.weight`), block
//! `b` integrated over `[b·T, (b+1)·T]`, the state `[z, Δlogp]` (`D + 1` values per sample).
//!
//! **Probes in the rows.** With Hutchinson's trace every block draws its own probe per sample
//! and iteration. The probes travel in the batch's rows, `[x, 0, ε₀, …, ε_{K−1}]` (`D + 1 +
//! K·D` values, [`FlowSamples::with_probes`](super::flow::FlowSamples::with_probes)), drawn
//! with the batch from the iteration's generator; [`TrainModel::prepare`] hands each block its
//! probes (the block's auxiliary input) and keeps `[x, 0]` as the start state. So a sample's
//! probes depend only on (seed, iteration, position in the global batch): shards, MPI ranks
//! and resuming do not change them, as for the one-block flows' noise in the state. With the
//! exact trace the rows are `[x, 0]`. With `T = 1` (image) or the flow's own `T` (tabular)
//! the problem is the library's [`ImageFlow::problem`] / [`TabularFlow::problem`] exactly, so
//! the gradient is the library's bit for bit.
//!
//! **Evaluation.** [`FlowChain::exact`]: a tabular chain with the same parameters and the
//! exact trace (FFJORD's test-time `brute_force` divergence), for validation and test NLLs.
//!
//! **Sampling.** [`FlowChain::sample`]: `z ~ N(0, I)` on all `D` coordinates (an image flow's
//! factored-out ones included) integrated backwards through the blocks' vector fields, last
//! block first.

use symplode_codegen::ad::Trace;
use symplode_codegen::ir::Graph;
use symplode_runtime::grad::Problem;
use symplode_runtime::interp::Interpreted;
use symplode_runtime::models::image_flow::{ImageFlow, ImageFlowConfig};
use symplode_runtime::models::tabular_flow::TabularFlow;
use symplode_runtime::solver::solve;
use symplode_runtime::{Dynamics, ParamTensor, Real, Scheme, SolveError, Stepping};

use super::{Batch, Reversed, TrainError, TrainModel};

/// The library flow a [`FlowChain`] wraps.
#[derive(Clone, Debug)]
enum Flow<T: Real> {
    /// FFJORD's multiscale image flow.
    Image(ImageFlow<T>),
    /// FFJORD's tabular flow.
    Tabular(TabularFlow<T>),
}

impl<T: Real> Flow<T> {
    fn blocks(&self) -> &[Interpreted<T>] {
        match self {
            Flow::Image(f) => f.blocks(),
            Flow::Tabular(f) => f.blocks(),
        }
    }

    fn blocks_mut(&mut self) -> &mut [Interpreted<T>] {
        match self {
            Flow::Image(f) => f.blocks_mut(),
            Flow::Tabular(f) => f.blocks_mut(),
        }
    }

    fn dim(&self) -> usize {
        match self {
            Flow::Image(f) => f.config().dim(),
            Flow::Tabular(f) => f.dim(),
        }
    }

    /// Block `b`'s vector field.
    fn field(&self, b: usize) -> &Graph {
        match self {
            Flow::Image(f) => &f.fields()[b],
            Flow::Tabular(f) => f.field(),
        }
    }

    /// Hutchinson probes per row (one per block), or 0 for the exact trace.
    fn probes(&self) -> usize {
        match self {
            Flow::Tabular(f) if f.trace() == Trace::Exact => 0,
            _ => self.blocks().len(),
        }
    }
}

/// A chain of CNF blocks with one flat parameter vector (see the module docs).
#[derive(Clone, Debug)]
pub struct FlowChain<T: Real> {
    flow: Flow<T>,
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
        Ok(Self::of(Flow::Image(flow), time_length))
    }

    /// The chain of a library tabular flow (its blocks' current parameters, its trace and
    /// time `T`).
    pub fn from_tabular(flow: TabularFlow<T>) -> Self {
        let time = flow.time_length();
        Self::of(Flow::Tabular(flow), time)
    }

    fn of(flow: Flow<T>, time: f64) -> Self {
        let mut offsets = vec![0];
        let mut params = Vec::new();
        for m in flow.blocks() {
            params.extend_from_slice(m.params());
            offsets.push(params.len());
        }
        FlowChain {
            flow,
            params,
            offsets,
            time,
            x0: Vec::new(),
        }
    }

    /// A tabular chain's twin with the exact trace (the current parameters; rows `[x, 0]`):
    /// what its validation and test NLLs are computed with.
    ///
    /// # Errors
    /// An image flow (Hutchinson only).
    pub fn exact(&self) -> Result<Self, TrainError> {
        let Flow::Tabular(f) = &self.flow else {
            return Err(TrainError::Config {
                field: "trace",
                reason: "the exact trace is available for tabular flows only, not for a \
                         multiscale image flow"
                    .into(),
            });
        };
        let params = self
            .offsets
            .windows(2)
            .map(|w| self.params[w[0]..w[1]].to_vec())
            .collect();
        let exact =
            TabularFlow::from_params(f.field(), self.time, Trace::Exact, params).map_err(|e| {
                TrainError::Config {
                    field: "model",
                    reason: e.to_string(),
                }
            })?;
        Ok(Self::from_tabular(exact))
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

    /// The library image flow, its blocks holding the current parameters (`None` for a
    /// tabular flow).
    pub fn image_flow(&mut self) -> Option<&ImageFlow<T>> {
        self.sync();
        match &self.flow {
            Flow::Image(f) => Some(f),
            Flow::Tabular(_) => None,
        }
    }

    /// The library tabular flow, its blocks holding the current parameters (`None` for an
    /// image flow).
    pub fn tabular_flow(&mut self) -> Option<&TabularFlow<T>> {
        self.sync();
        match &self.flow {
            Flow::Tabular(f) => Some(f),
            Flow::Image(_) => None,
        }
    }

    /// Values per sample, `D` (an image's `c·h·w`).
    pub fn dim(&self) -> usize {
        self.flow.dim()
    }

    /// Hutchinson probes per row (one per block; 0 with the exact trace).
    pub fn probes(&self) -> usize {
        self.flow.probes()
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
        for (b, m) in self.flow.blocks().iter().enumerate().rev() {
            let f = self.flow.field(b);
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
        d + 1 + self.probes() * d
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
                    self.probes()
                ),
            });
        }
        self.sync();
        let n = batch.x0.len() / width;
        self.x0.clear();
        for row in batch.x0.chunks_exact(width) {
            self.x0.extend_from_slice(&row[..d + 1]);
        }
        if self.probes() == 0 {
            return Ok(());
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
        match &self.flow {
            Flow::Image(f) => f.problem_over(scheme, &stepping, &self.x0, self.time),
            Flow::Tabular(f) => f.problem_over(scheme, &stepping, &self.x0, self.time),
        }
    }
}
