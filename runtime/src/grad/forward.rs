//! The forward sweep over a chain of components, shared by every gradient method, and the
//! workspace, counters and memory tracker of one gradient computation.

use super::memory::{Kind, Tracker};
use super::problem::{Outputs, Problem};
use super::record::Record;
use super::storage::{RecordContext, StoragePolicy};
use crate::error::SolveError;
use crate::real::Real;
use crate::solver::{
    Counters, Forward, Grid, Norm, StepWorkspace, Stepping, stages_evaluated, state_norm,
};

/// Workspace and counters of a gradient computation.
pub(crate) struct Run<T: Real> {
    pub ws: StepWorkspace<T>,
    pub counters: Counters,
    pub tracker: Tracker,
}

impl<T: Real> Run<T> {
    /// Allocates the step workspace (and counts its scratch, one evaluation's activations, as
    /// graph memory).
    pub fn new(problem: &Problem<'_, T>) -> Self {
        let batch = problem.batch();
        let scratch = problem
            .chain
            .iter()
            .map(|c| c.dynamics.scratch_len(batch))
            .max()
            .unwrap_or(0);
        let run = Run {
            ws: StepWorkspace::new(problem.scheme.stages(), problem.x0.len(), scratch),
            counters: Counters::default(),
            tracker: Tracker::default(),
        };
        run.tracker.gr_add(run.ws.scratch_bytes());
        run.tracker.ws_add(run.ws.buffer_bytes());
        run
    }
}

/// The forward solver of component `m` of `problem` (replaying `replay` when given).
pub(crate) fn component_forward<'a, T: Real>(
    problem: &'a Problem<'_, T>,
    m: usize,
    norm: Norm<'a, T>,
    replay: Option<&'a Grid>,
) -> Forward<'a, T> {
    Forward {
        scheme: problem.scheme,
        stepping: &problem.stepping,
        component: m,
        norm,
        what: "state",
        replay,
    }
}

/// What [`forward_chain`] returns: the outputs, the accepted grids and the records.
pub(crate) struct Recorded<T> {
    pub outputs: Outputs<T>,
    pub grids: Vec<Grid>,
    pub records: Vec<Record<T>>,
}

/// Integrates every component in order, recording each with `storage`; with `replay`, component
/// m takes the steps of `replay[m]` instead of choosing them (a frozen grid).
pub(crate) fn forward_chain<T: Real, S: StoragePolicy>(
    problem: &Problem<'_, T>,
    run: &mut Run<T>,
    storage: &S,
    replay: Option<&[Grid]>,
) -> Result<Recorded<T>, SolveError> {
    if let Some(grids) = replay
        && grids.len() != problem.chain.len()
    {
        return Err(SolveError::GridMismatch(
            grids.len().min(problem.chain.len()),
        ));
    }
    let mut outputs = problem.zero_outputs();
    run.tracker.ws_add(outputs_bytes(&outputs));
    let norm = state_norm::<T>(&problem.stepping);
    let mut grids = Vec::with_capacity(problem.chain.len());
    let mut records = Vec::with_capacity(problem.chain.len());
    let mut x_start = problem.x0.to_vec();
    for (m, comp) in problem.chain.iter().enumerate() {
        let cx = RecordContext {
            dynamics: comp.dynamics,
            state_len: problem.x0.len(),
            stages_evaluated: stages_evaluated(problem.scheme, &problem.stepping),
            effective: problem.scheme.effective_stages(),
            tracker: &run.tracker,
            known_steps: match problem.stepping {
                Stepping::Fixed { steps } => Some(steps * comp.times.len().saturating_sub(1)),
                Stepping::Adaptive(_) => None,
            },
        };
        let mut recorder = storage.recorder(&cx, &x_start);
        let grid = component_forward(problem, m, &norm, replay.map(|g| &g[m])).run(
            &comp.times,
            &x_start,
            &mut outputs[m],
            &mut recorder,
            &mut run.ws,
            &mut run.counters,
        )?;
        records.push(recorder.finish(&outputs[m]));
        if let Some(last) = outputs[m].last() {
            x_start.copy_from_slice(last);
        }
        grids.push(grid);
    }
    Ok(Recorded {
        outputs,
        grids,
        records,
    })
}

/// Bytes of an output (or cotangent) buffer.
pub(crate) fn outputs_bytes<T>(o: &Outputs<T>) -> usize {
    o.iter().map(|c| size_of_val(c.as_slice())).sum()
}

/// Zeroed dL/dx0 and dL/dθ (one vector per component).
pub(crate) fn zero_gradients<T: Real>(
    run: &Run<T>,
    problem: &Problem<'_, T>,
) -> (Vec<T>, Vec<Vec<T>>) {
    let lam = vec![T::zero(); problem.x0.len()];
    let dtheta: Vec<Vec<T>> = problem
        .chain
        .iter()
        .map(|c| vec![T::zero(); c.dynamics.n_params()])
        .collect();
    let bytes = std::mem::size_of_val(&lam[..])
        + dtheta
            .iter()
            .map(|v| std::mem::size_of_val(&v[..]))
            .sum::<usize>();
    run.tracker.ws_add(bytes);
    (lam, dtheta)
}

impl<T: Real> Run<T> {
    /// Copies the forward counters and the tracked peaks into `stats`.
    pub fn finish_stats(&self, stats: &mut super::Stats) {
        stats.nfe_forward = self.counters.nfe;
        stats.accepted = self.counters.accepted;
        stats.rejected = self.counters.rejected;
        stats.peak_checkpoint_bytes = self.tracker.peak(Kind::Checkpoint);
        stats.peak_graph_bytes = self.tracker.peak(Kind::Graph);
        stats.peak_workspace_bytes = self.tracker.peak(Kind::Workspace);
        stats.peak_total_bytes = self.tracker.total_peak();
    }
}
