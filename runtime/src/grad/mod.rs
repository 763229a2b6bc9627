//! The gradient methods: each a [`BackwardKind`] composed with a [`StoragePolicy`], behind one
//! trait with separate forward and backward sweeps ([`GradientMethod`]).
//!
//! | method | stores in forward | backward | checkpoints | graph memory | evals |
//! |---|---|---|---|---|---|
//! | [`Backprop`] | every stage's tape | reverse through all | – | M·N·s·L | 2N |
//! | [`Adjoint`] | output states | backward ODE for [x, λ, g_θ] | M | L | N + 2Ñ |
//! | [`CheckpointComponent`] | x at each component start | re-run component with tapes | M | N·s·L | 3N |
//! | [`CheckpointStep`] (ACA) | xₙ each accepted step | re-run one step with tapes | M·N | s·L | 3N |
//! | [`SymplecticAdjoint`] | xₙ each accepted step | recompute stages, one VJP per stage | M·N + s | L | 4N |
//! | [`SymplecticAdjointStored`] | S stage states each accepted step | one VJP per stage | M·N·S | L | 3N |
//! | [`SymplecticBinomial`] | C states, the start's included (revolve) | replay steps, then as symplectic | M·(C + 1) + s | L | 4N + t(N, C)·s |
//!
//! All but [`Adjoint`] return the gradient of the *discrete* solution on the accepted step grid
//! (step sizes are constants), equal to each other up to rounding.
//!
//! Other pairs are methods too ([`Composed`]): e.g. the symplectic adjoint over
//! [`ComponentStarts`] (memory M + N states, the component replayed on its accepted grid), or
//! the taped backward over [`StepStages`].
//!
//! Second derivatives: [`hvp`] returns Hessian-vector products of the discrete solution's loss
//! (forward-mode tangents through the forward solve and the symplectic adjoint sweep).
//!
//! Where things live: [`storage`] (what the forward sweep keeps, and its bytes), [`backward`]
//! (the three backward sweeps), `method.rs` (the trait, [`ForwardPass`], [`Composed`]),
//! `methods.rs` (the named pairs), `memory.rs` (counting and prediction).

#[cfg(feature = "ndarray")]
mod arrays;
mod auto;
pub mod backward;
mod binomial;
mod by_name;
mod forward;
pub mod hvp;
pub mod losses;
mod memory;
mod method;
mod methods;
mod per_sample;
mod per_sample_partner;
mod problem;
mod record;
mod reversible;
pub mod revolve;
pub mod storage;
mod sweep;

pub use auto::{Auto, Choice, parse_bytes};
pub use backward::continuous::Adjoint;
pub use backward::{BackwardContext, BackwardKind, Partner, Taped};
pub use binomial::BinomialStates;
pub use by_name::{METHOD_NAMES, MethodOptions, method_by_name, method_with_options};
pub use memory::{ComponentSizes, MemoryPrediction, ProblemSizes};
pub use method::{Composed, Composition, ForwardPass, GradientMethod, forward_on_grids};
pub use methods::{
    Backprop, CheckpointComponent, CheckpointStep, SymplecticAdjoint, SymplecticAdjointStored,
    SymplecticBinomial,
};
pub use problem::{Component, Outputs, Problem};
pub use record::{Record, Recorder};
pub use reversible::{Reversible, ReversibleBackprop};
pub use storage::{
    AllTapes, ComponentStarts, Keeps, OutputStates, RecordContext, StepStages, StepStates,
    StoragePolicy, StoreBytes,
};

use crate::real::Real;
use crate::solver::Grid;

/// Counters and memory of one gradient computation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Evaluations of f in the forward sweep (including rejected trials).
    pub nfe_forward: usize,
    /// Plain evaluations of f in the backward sweep (recomputation).
    pub nfe_backward: usize,
    /// Vector–Jacobian products (VJPs or taped backwards) in the backward sweep.
    pub vjp_backward: usize,
    /// Accepted forward steps (all components).
    pub accepted: usize,
    /// Rejected forward steps.
    pub rejected: usize,
    /// Accepted steps of the adjoint method's backward solve.
    pub backward_accepted: usize,
    /// Rejected steps of the adjoint method's backward solve.
    pub backward_rejected: usize,
    /// Forward steps replayed in the backward sweep to recover step states that were not kept
    /// (binomial checkpointing, component replays).
    pub recomputed_steps: usize,
    /// Largest |reconstructed − true| over the elements of a component's start state (y₀ and
    /// z₀ of the reversible scheme; 0 for the other methods).
    pub x0_reconstruction_error: f64,
    /// Peak checkpoint bytes, as counted by the runtime.
    pub peak_checkpoint_bytes: usize,
    /// Peak graph (tape and activation) bytes, as counted by the runtime.
    pub peak_graph_bytes: usize,
    /// Peak workspace bytes (step buffers, outputs, cotangents, gradients).
    pub peak_workspace_bytes: usize,
    /// Peak of everything the runtime counted, at once.
    pub peak_total_bytes: usize,
}

/// The result of a gradient computation.
#[derive(Clone, Debug)]
pub struct GradResult<T: Real> {
    /// The loss value.
    pub loss: f64,
    /// States at the output times, `[component][output][batch·dim]`.
    pub outputs: Outputs<T>,
    /// dL/dx0, `[batch·dim]`.
    pub dx0: Vec<T>,
    /// dL/dθ per component, in each component's flat parameter layout.
    pub dtheta: Vec<Vec<T>>,
    /// The accepted forward grid of each component (empty grids under per-sample steps).
    pub grids: Vec<Grid>,
    /// Under per-sample steps, each sample's accepted grid, `[component][sample]`; empty
    /// otherwise.
    pub sample_grids: Vec<Vec<Grid>>,
    /// Counters and memory.
    pub stats: Stats,
}
