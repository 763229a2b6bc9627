//! Memory accounting: what each gradient method holds, counted as it runs and predicted before.

use std::cell::Cell;

use super::Problem;
use crate::real::Real;
use crate::solver::stages_evaluated;

/// Current and peak bytes in the two categories of the paper's memory table. Interior
/// mutability lets every sink of a pass share one tracker by `&`.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    ck: Cell<usize>,
    ck_peak: Cell<usize>,
    gr: Cell<usize>,
    gr_peak: Cell<usize>,
}

impl Tracker {
    pub fn ck_add(&self, bytes: usize) {
        self.ck.set(self.ck.get() + bytes);
        self.ck_peak.set(self.ck_peak.get().max(self.ck.get()));
    }
    pub fn gr_add(&self, bytes: usize) {
        self.gr.set(self.gr.get() + bytes);
        self.gr_peak.set(self.gr_peak.get().max(self.gr.get()));
    }
    pub fn gr_sub(&self, bytes: usize) {
        self.gr.set(self.gr.get() - bytes);
    }
    pub fn checkpoint_peak(&self) -> usize {
        self.ck_peak.get()
    }
    pub fn graph_peak(&self) -> usize {
        self.gr_peak.get()
    }
}

/// Bytes a method will hold at its peak, predicted from the sizes alone.
///
/// *Checkpoint* bytes are states kept between the forward and the backward sweep (step or
/// component start states, output states for the adjoint method) plus the stage states the
/// symplectic adjoint recomputes per step. *Graph* bytes are what differentiation through f
/// holds: stored stage inputs and tapes, plus the one evaluation's activations (scratch) every
/// method uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryPrediction {
    /// Peak checkpoint bytes.
    pub checkpoint_bytes: usize,
    /// Peak graph (tape / activation) bytes.
    pub graph_bytes: usize,
}

/// The sizes of one component, for predictions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentSizes {
    /// Accepted steps N.
    pub steps: usize,
    /// Output times K.
    pub outputs: usize,
    /// `Dynamics::scratch_len(batch)`.
    pub scratch_len: usize,
    /// `Dynamics::tape_len(batch)`.
    pub tape_len: usize,
}

/// Everything a memory prediction depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProblemSizes {
    /// State elements per snapshot (batch × dim).
    pub state_len: usize,
    /// Bytes per element (4 or 8).
    pub elem: usize,
    /// Stages s of the tableau.
    pub stages: usize,
    /// Stages evaluated per forward trial step (s when adaptive or FSAL, else S).
    pub stages_evaluated: usize,
    /// Effective stages S of the symplectic partner.
    pub effective: usize,
    /// Per component.
    pub components: Vec<ComponentSizes>,
}

impl ProblemSizes {
    /// Sizes of `problem` when component m takes `steps[m]` accepted steps (fixed stepping:
    /// steps per interval × intervals; adaptive: as measured or guessed).
    pub fn of<T: Real>(problem: &Problem<'_, T>, steps: &[usize]) -> Self {
        let batch = problem.batch();
        let sch = problem.scheme;
        ProblemSizes {
            state_len: problem.x0.len(),
            elem: std::mem::size_of::<T>(),
            stages: sch.stages(),
            stages_evaluated: stages_evaluated(sch, &problem.stepping),
            effective: sch.effective_stages(),
            components: problem
                .chain
                .iter()
                .zip(steps)
                .map(|(c, &n)| ComponentSizes {
                    steps: n,
                    outputs: c.times.len().saturating_sub(1),
                    scratch_len: c.dynamics.scratch_len(batch),
                    tape_len: c.dynamics.tape_len(batch),
                })
                .collect(),
        }
    }

    /// Bytes of one state snapshot.
    pub fn state_bytes(&self) -> usize {
        self.state_len * self.elem
    }

    /// Bytes of one stored stage (its input state and its tape) of component m.
    pub fn stage_tape_bytes(&self, m: usize) -> usize {
        (self.state_len + self.components[m].tape_len) * self.elem
    }

    /// Largest scratch over the components, in bytes.
    pub fn max_scratch_bytes(&self) -> usize {
        self.components
            .iter()
            .map(|c| c.scratch_len)
            .max()
            .unwrap_or(0)
            * self.elem
    }

    /// Total accepted steps over the components.
    pub fn total_steps(&self) -> usize {
        self.components.iter().map(|c| c.steps).sum()
    }
}
