//! Memory accounting: what each gradient method holds, counted as it runs and predicted before.

use std::cell::Cell;

use super::Problem;
use super::record::StageTape;
use crate::real::Real;
use crate::solver::{StepWorkspace, Stepping, stages_evaluated};

/// What a tracked buffer holds, in the paper's two categories plus the solver's own buffers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// States kept between the sweeps (and the symplectic stage states).
    Checkpoint,
    /// Tapes, stored stage inputs and one evaluation's activations.
    Graph,
    /// Step buffers, outputs, cotangents and gradients.
    Workspace,
}

/// Current and peak bytes per [`Kind`] and in total. Interior mutability lets every sink of a
/// pass share one tracker by `&`.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    cur: [Cell<usize>; 3],
    peak: [Cell<usize>; 3],
    total: Cell<usize>,
    total_peak: Cell<usize>,
}

impl Tracker {
    pub fn add(&self, kind: Kind, bytes: usize) {
        let k = kind as usize;
        self.cur[k].set(self.cur[k].get() + bytes);
        self.peak[k].set(self.peak[k].get().max(self.cur[k].get()));
        self.total.set(self.total.get() + bytes);
        self.total_peak
            .set(self.total_peak.get().max(self.total.get()));
    }
    pub fn sub(&self, kind: Kind, bytes: usize) {
        let k = kind as usize;
        self.cur[k].set(self.cur[k].get() - bytes);
        self.total.set(self.total.get() - bytes);
    }
    pub fn ck_add(&self, bytes: usize) {
        self.add(Kind::Checkpoint, bytes);
    }
    pub fn ck_sub(&self, bytes: usize) {
        self.sub(Kind::Checkpoint, bytes);
    }
    pub fn gr_add(&self, bytes: usize) {
        self.add(Kind::Graph, bytes);
    }
    pub fn gr_sub(&self, bytes: usize) {
        self.sub(Kind::Graph, bytes);
    }
    pub fn ws_add(&self, bytes: usize) {
        self.add(Kind::Workspace, bytes);
    }
    pub fn ws_sub(&self, bytes: usize) {
        self.sub(Kind::Workspace, bytes);
    }
    pub fn peak(&self, kind: Kind) -> usize {
        self.peak[kind as usize].get()
    }
    pub fn total_peak(&self) -> usize {
        self.total_peak.get()
    }
}

/// Bytes a method will hold at its peak, predicted from the sizes alone.
///
/// *Checkpoint* bytes are states kept between the forward and the backward sweep (step or
/// component start states, output states for the adjoint method) plus the stage states the
/// symplectic adjoint recomputes per step. *Graph* bytes are what differentiation through f
/// holds: stored stage inputs and tapes, plus the one evaluation's activations (scratch) every
/// method uses.
///
/// *Workspace* bytes are the solver's own buffers (stage slopes, trial states, the backward
/// sweep's buffers) and the outputs, cotangents and gradients a gradient call returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryPrediction {
    /// Peak checkpoint bytes.
    pub checkpoint_bytes: usize,
    /// Peak graph (tape / activation) bytes.
    pub graph_bytes: usize,
    /// Peak workspace bytes.
    pub workspace_bytes: usize,
}

impl MemoryPrediction {
    /// Checkpoint + graph + workspace: a bound on the peak of everything the call holds.
    pub fn total(&self) -> usize {
        self.checkpoint_bytes + self.graph_bytes + self.workspace_bytes
    }
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
    /// Parameters P.
    pub params: usize,
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
    /// Whether the step counts are known before the forward sweep (fixed stepping).
    pub steps_known: bool,
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
                    params: c.dynamics.n_params(),
                })
                .collect(),
            steps_known: matches!(problem.stepping, Stepping::Fixed { .. }),
        }
    }

    /// Accepted steps of component m when known before the forward sweep.
    pub fn known_steps(&self, m: usize) -> Option<usize> {
        self.steps_known.then(|| self.components[m].steps)
    }

    /// Bytes of one state snapshot.
    pub fn state_bytes(&self) -> usize {
        self.state_len * self.elem
    }

    /// Bytes of one stored stage (its input state and its tape) of component m.
    pub fn stage_tape_bytes(&self, m: usize) -> usize {
        StageTape::<f64>::len(self.state_len, self.components[m].tape_len) * self.elem
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

    /// Parameters of component m.
    pub fn params(&self, m: usize) -> usize {
        self.components[m].params
    }

    /// Bytes every method holds besides its own: the forward step buffers ((s + 4) states),
    /// the outputs and cotangents, dL/dx0 and dL/dθ.
    pub fn common_workspace_bytes(&self) -> usize {
        let outputs: usize = self.components.iter().map(|c| c.outputs).sum();
        let params: usize = self.components.iter().map(|c| c.params).sum();
        // Step buffers, outputs and cotangents, dL/dx0, dL/dθ.
        (StepWorkspace::<f64>::buffer_len(self.stages, self.state_len)
            + (2 * outputs + 1) * self.state_len
            + params)
            * self.elem
    }

    /// Total accepted steps over the components.
    pub fn total_steps(&self) -> usize {
        self.components.iter().map(|c| c.steps).sum()
    }
}
