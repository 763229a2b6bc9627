//! [`AnyNet`]: what `grad` and `solve` evaluate — one vector field (a model spec's network,
//! a dense or one-block image flow), or a multiscale image flow's chain of CNF blocks.

use symplode::prelude::*;
use symplode::runtime::ParamTensor;
use symplode::train::{Batch, FlowChain, TrainModel};

/// One vector field, or a multiscale flow's chain (prepared with its start rows and probes).
pub enum AnyNet<T: Real> {
    /// One ODE over the command's times.
    One(Box<dyn Dynamics<T>>),
    /// A [`FlowChain`], prepared with `batch` (its probes): block `b` over `[b·T, (b+1)·T]`.
    Chain {
        /// The flow.
        chain: Box<FlowChain<T>>,
        /// The rows it was prepared with.
        batch: Batch<T>,
    },
}

impl<T: Real> AnyNet<T> {
    /// The problem from `x0` over `times` (a chain: its own start state and intervals; `x0`
    /// and `times` are ignored).
    pub fn problem<'a>(
        &'a self,
        times: &[f64],
        scheme: &'a Scheme<T>,
        stepping: Stepping,
        x0: &'a [T],
    ) -> Problem<'a, T> {
        match self {
            AnyNet::One(net) => Problem::single(&**net, times, scheme, stepping, x0),
            AnyNet::Chain { chain, batch } => chain.problem(batch, scheme, stepping),
        }
    }

    /// The named parameter tensors (a chain's: `blocks.{b}.…`).
    pub fn param_tensors(&self) -> Vec<ParamTensor> {
        match self {
            AnyNet::One(net) => net.param_tensors(),
            AnyNet::Chain { chain, .. } => chain.param_tensors(),
        }
    }

    /// The number of parameters.
    pub fn n_params(&self) -> usize {
        match self {
            AnyNet::One(net) => net.n_params(),
            AnyNet::Chain { chain, .. } => chain.params().len(),
        }
    }

    /// The output times of a chain, `[0, T, 2T, …, K·T]` (`None` for one vector field).
    pub fn chain_times(&self) -> Option<Vec<f64>> {
        match self {
            AnyNet::One(_) => None,
            AnyNet::Chain { chain, .. } => Some(
                std::iter::once(0.0)
                    .chain((0..chain.blocks()).map(|b| chain.interval(b)[1]))
                    .collect(),
            ),
        }
    }
}
