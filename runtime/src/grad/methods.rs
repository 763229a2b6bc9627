//! The named gradient methods: the paper's five rows and the stored-stage symplectic adjoint,
//! each a pair (backward kind, storage policy).
//!
//! | method | backward kind | storage policy |
//! |---|---|---|
//! | [`Backprop`] | [`Taped`] | [`AllTapes`] |
//! | [`Adjoint`] | [`Adjoint`] (continuous) | [`OutputStates`] |
//! | [`CheckpointComponent`] | [`Taped`] | [`ComponentStarts`] |
//! | [`CheckpointStep`] (ACA) | [`Taped`] | [`StepStates`] |
//! | [`SymplecticAdjoint`] | [`Partner`] | [`StepStates`] |
//! | [`SymplecticAdjointStored`] | [`Partner`] | [`StepStages`] |
//! | [`SymplecticBinomial`] | [`Partner`] | [`BinomialStates`] |

use super::Adjoint;
use super::backward::{Partner, Taped};
use super::binomial::BinomialStates;
use super::method::Composition;
use super::storage::{AllTapes, ComponentStarts, OutputStates, StepStages, StepStates};

/// Defines a named method as a zero-sized type composed of a backward kind and a storage policy.
macro_rules! named_method {
    ($(#[$doc:meta])* $ty:ident = $name:literal: $kind:ident x $storage:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $ty;

        impl Composition for $ty {
            type Backward = $kind;
            type Storage = $storage;
            fn name(&self) -> &'static str {
                $name
            }
            fn backward_kind(&self) -> &$kind {
                &$kind
            }
            fn storage(&self) -> $storage {
                $storage
            }
        }
    };
}

named_method! {
    /// Backpropagation (torchdiffeq's `odeint` under autograd): the forward pass tapes every
    /// stage evaluation of every accepted step; the backward pass runs reverse mode through all
    /// of them. Memory M·N·s·L, compute 2N.
    Backprop = "backprop": Taped x AllTapes
}

named_method! {
    /// Checkpoint per component (`odeint_onecheckpoint`): the forward pass keeps only each
    /// component's start state; the backward pass replays the component on its accepted grid
    /// with tapes and backpropagates through it. Memory M + N·s·L, compute 3N.
    CheckpointComponent = "checkpoint-component": Taped x ComponentStarts
}

named_method! {
    /// Checkpoint per step (ACA, Zhuang et al. 2020): the forward pass keeps xₙ of every accepted
    /// step; the backward pass re-runs one step at a time with tapes. Memory M·N + s·L,
    /// compute 3N.
    CheckpointStep = "aca": Taped x StepStates
}

named_method! {
    /// The symplectic adjoint method (Matsubara, Miyatake & Yaguchi, NeurIPS 2021): the forward
    /// pass keeps xₙ of every accepted step; the backward pass, per step, recomputes the S stage
    /// states without a graph and integrates the adjoint with the tableau's symplectic partner,
    /// one VJP per stage ([`Partner`]). The gradient equals backpropagation through the solver up
    /// to rounding. Memory M·N + s states plus one evaluation's activations L; compute about 4N.
    SymplecticAdjoint = "symplectic": Partner x StepStates
}

named_method! {
    /// The symplectic adjoint method with the S stage states of every accepted step kept from the
    /// forward pass instead of recomputed.
    ///
    /// Same backward integration as [`SymplecticAdjoint`] (the partner tableau, one VJP per
    /// stage), so the same gradient bit for bit; the S − 1 stage re-evaluations per step
    /// disappear, which makes a step cost 2S network passes plus S backward passes instead of
    /// 3S − 1 plus S (rk4: 8 + 4 instead of 11 + 4). The price is memory: M·N·S states instead of
    /// M·N + S. States are small next to one evaluation's activations when the state dimension
    /// is small (2-D toy problems, CNFs), and both stay far below the graph of backpropagation
    /// (M·N·s·L); with a large state or many steps, prefer [`SymplecticAdjoint`].
    SymplecticAdjointStored = "symplectic-stored": Partner x StepStages
}

impl Composition for Adjoint {
    type Backward = Adjoint;
    type Storage = OutputStates;
    fn name(&self) -> &'static str {
        if self.seminorm {
            "adjoint-seminorm"
        } else {
            "adjoint"
        }
    }
    fn backward_kind(&self) -> &Adjoint {
        self
    }
    fn storage(&self) -> OutputStates {
        OutputStates
    }
}

/// The symplectic adjoint method over binomial checkpoints ([`BinomialStates`]): at most
/// `checkpoints` = C step states per component are kept, the start's included (revolve's
/// `snaps`), plus one live state; the backward pass recovers every other xₙ by replaying
/// steps on the accepted grid, bit for bit the forward pass's states, so the gradient is
/// bit-identical to [`SymplecticAdjoint`]'s, fixed and adaptive.
///
/// Checkpoint memory per component: at most C + 1 states (C checkpoints and the live state),
/// instead of N. The price is t(N, C) forward steps replayed (the revolve optimum; N − 1
/// fewer with fixed steps, where the forward pass places the first checkpoints), counted in
/// [`Stats::recomputed_steps`](super::Stats::recomputed_steps). C = 0 is refused (the start
/// is always a checkpoint).
///
/// ```
/// use symplode_runtime::grad::{GradientMethod, SymplecticBinomial};
/// let m = SymplecticBinomial { checkpoints: 4 };
/// assert_eq!(GradientMethod::<f64>::name(&m), "symplectic-binomial");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SymplecticBinomial {
    /// Checkpoints C per component, the start's included (≥ 1).
    pub checkpoints: usize,
}

impl Composition for SymplecticBinomial {
    type Backward = Partner;
    type Storage = BinomialStates;
    fn name(&self) -> &'static str {
        "symplectic-binomial"
    }
    fn backward_kind(&self) -> &Partner {
        &Partner
    }
    fn storage(&self) -> BinomialStates {
        BinomialStates {
            checkpoints: self.checkpoints,
        }
    }
}
