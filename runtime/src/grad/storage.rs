//! Storage policies: what the forward sweep keeps of each component for the backward sweep.
//!
//! A gradient method is a [`BackwardKind`](super::BackwardKind) composed with a
//! [`StoragePolicy`] (see [`Composed`](super::Composed)). The policy decides what a forward
//! sweep records per component and says, from the sizes alone, how many bytes that holds;
//! the backward kind decides how to get from the record to the stage states or tapes it
//! differentiates through (recomputing what was not kept).
//!
//! | policy | keeps per component | checkpoint bytes | graph bytes |
//! |---|---|---|---|
//! | [`OutputStates`] | nothing beyond the output states | K states | – |
//! | [`ComponentStarts`] | the start state | 1 state | – |
//! | [`StepStates`] | xₙ of every accepted step | N states | – |
//! | [`StepStages`] | the S stage states of every accepted step | N·S states | – |
//! | [`AllTapes`] | input and tape of every effective stage | – | N·S·(state + tape) |
//! | [`BinomialStates`](super::BinomialStates) | ≤ C states on the revolve schedule, the start's included (+ x_{N−1} live) | ≤ C + 1 states | – |

use std::fmt::Debug;

use super::memory::{ProblemSizes, Tracker};
use super::record::{CheckpointSink, PlainSink, Rec, Recorder, StageStateSink, TapeSink};
use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::real::Real;

/// What a recorder needs to know about the component it records.
pub struct RecordContext<'a, T: Real> {
    pub(crate) dynamics: &'a dyn Dynamics<T>,
    pub(crate) state_len: usize,
    pub(crate) stages_evaluated: usize,
    pub(crate) effective: usize,
    pub(crate) tracker: &'a Tracker,
    /// Accepted steps N of the component when known before the sweep (fixed stepping).
    pub(crate) known_steps: Option<usize>,
}

/// Bytes a storage policy holds, predicted from the sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreBytes {
    /// Checkpoint bytes held from the forward sweep to the end of the backward sweep.
    pub checkpoint: usize,
    /// Peak graph bytes (tapes) of the forward sweep, besides one evaluation's scratch.
    pub graph: usize,
    /// Peak temporary workspace of the forward sweep.
    pub workspace: usize,
}

/// What a storage policy keeps of each component, as the backward kinds see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keeps {
    /// Only the output states.
    Outputs,
    /// Each component's start state.
    Starts,
    /// xₙ of every accepted step.
    StepStates,
    /// The S stage states of every accepted step.
    StepStages,
    /// Input and tape of every effective stage.
    Tapes,
    /// The start and at most the given number of further step states (C − 1 for C
    /// checkpoints) on the binomial schedule, plus the live state.
    Binomial(usize),
}

/// What the forward sweep keeps of each component (a zero-sized strategy type).
pub trait StoragePolicy: Copy + Debug + Send + Sync + 'static {
    /// The policy's name (`"step-states"`, …).
    fn name(&self) -> &'static str;
    /// What it keeps.
    fn keeps(&self) -> Keeps;
    /// Refuses settings the policy cannot run with (checked before the forward sweep).
    fn validate(&self) -> Result<(), SolveError> {
        Ok(())
    }
    /// The stage sink that records one component, which starts from `x_start`.
    fn recorder<'a, T: Real>(&self, cx: &RecordContext<'a, T>, x_start: &[T]) -> Recorder<'a, T>;
    /// The bytes the records of all components hold for these sizes.
    fn predict(&self, z: &ProblemSizes) -> StoreBytes;
}

/// Keeps nothing but the output states (the continuous adjoint's storage).
#[derive(Clone, Copy, Debug, Default)]
pub struct OutputStates;

/// Keeps each component's start state; the backward sweep re-runs the component on its
/// accepted grid (the paper's "checkpoint per component" baseline).
#[derive(Clone, Copy, Debug, Default)]
pub struct ComponentStarts;

/// Keeps xₙ at the start of every accepted step (ACA, the symplectic adjoint).
#[derive(Clone, Copy, Debug, Default)]
pub struct StepStates;

/// Keeps the S effective stage states of every accepted step (no recomputation of stages).
#[derive(Clone, Copy, Debug, Default)]
pub struct StepStages;

/// Keeps the input and the tape of every effective stage evaluation (backpropagation).
#[derive(Clone, Copy, Debug, Default)]
pub struct AllTapes;

fn plain<'a, T: Real>(cx: &RecordContext<'a, T>) -> PlainSink<'a, T> {
    PlainSink {
        dynamics: cx.dynamics,
    }
}

impl StoragePolicy for OutputStates {
    fn keeps(&self) -> Keeps {
        Keeps::Outputs
    }
    fn name(&self) -> &'static str {
        "output-states"
    }
    fn recorder<'a, T: Real>(&self, cx: &RecordContext<'a, T>, _x: &[T]) -> Recorder<'a, T> {
        Recorder(Rec::Outputs(plain(cx), cx.tracker))
    }
    fn predict(&self, z: &ProblemSizes) -> StoreBytes {
        let outputs: usize = z.components.iter().map(|c| c.outputs).sum();
        StoreBytes {
            checkpoint: outputs * z.state_bytes(),
            ..StoreBytes::default()
        }
    }
}

impl StoragePolicy for ComponentStarts {
    fn keeps(&self) -> Keeps {
        Keeps::Starts
    }
    fn name(&self) -> &'static str {
        "component-starts"
    }
    fn recorder<'a, T: Real>(&self, cx: &RecordContext<'a, T>, x: &[T]) -> Recorder<'a, T> {
        cx.tracker.ck_add(std::mem::size_of_val(x));
        Recorder(Rec::Start(plain(cx), x.to_vec()))
    }
    fn predict(&self, z: &ProblemSizes) -> StoreBytes {
        StoreBytes {
            checkpoint: z.components.len() * z.state_bytes(),
            ..StoreBytes::default()
        }
    }
}

impl StoragePolicy for StepStates {
    fn keeps(&self) -> Keeps {
        Keeps::StepStates
    }
    fn name(&self) -> &'static str {
        "step-states"
    }
    fn recorder<'a, T: Real>(&self, cx: &RecordContext<'a, T>, _x: &[T]) -> Recorder<'a, T> {
        Recorder(Rec::States(CheckpointSink {
            dynamics: cx.dynamics,
            states: Vec::new(),
            tracker: cx.tracker,
        }))
    }
    fn predict(&self, z: &ProblemSizes) -> StoreBytes {
        StoreBytes {
            checkpoint: z.total_steps() * z.state_bytes(),
            ..StoreBytes::default()
        }
    }
}

impl StoragePolicy for StepStages {
    fn keeps(&self) -> Keeps {
        Keeps::StepStages
    }
    fn name(&self) -> &'static str {
        "step-stages"
    }
    fn recorder<'a, T: Real>(&self, cx: &RecordContext<'a, T>, _x: &[T]) -> Recorder<'a, T> {
        Recorder(Rec::Stages(StageStateSink::new(
            cx.dynamics,
            cx.effective,
            cx.state_len,
            cx.tracker,
        )))
    }
    fn predict(&self, z: &ProblemSizes) -> StoreBytes {
        StoreBytes {
            checkpoint: z.total_steps() * z.effective * z.state_bytes(),
            graph: 0,
            workspace: StageStateSink::<f64>::trial_len(z.effective, z.state_len) * z.elem,
        }
    }
}

impl StoragePolicy for AllTapes {
    fn keeps(&self) -> Keeps {
        Keeps::Tapes
    }
    fn name(&self) -> &'static str {
        "all-tapes"
    }
    fn recorder<'a, T: Real>(&self, cx: &RecordContext<'a, T>, _x: &[T]) -> Recorder<'a, T> {
        Recorder(Rec::Tapes(TapeSink::new(
            cx.dynamics,
            cx.state_len,
            cx.stages_evaluated,
            cx.effective,
            cx.tracker,
        )))
    }
    fn predict(&self, z: &ProblemSizes) -> StoreBytes {
        // The tapes of earlier components stay until the backward sweep reaches them; the
        // forward peak of component m adds its trial pool of s_eval stage tapes.
        let mut stored = 0;
        let mut peak = 0;
        for m in 0..z.components.len() {
            stored += z.components[m].steps * z.effective * z.stage_tape_bytes(m);
            peak = peak.max(stored + z.stages_evaluated * z.stage_tape_bytes(m));
        }
        StoreBytes {
            graph: peak,
            ..StoreBytes::default()
        }
    }
}
