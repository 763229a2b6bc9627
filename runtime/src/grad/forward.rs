//! The forward sweep over a chain of components, shared by every gradient method.

use super::memory::{Kind, Tracker};
use super::problem::{Outputs, Problem, state_norm};
use super::sinks::CheckpointSink;
use crate::error::SolveError;
use crate::real::Real;
use crate::solver::sink::StageSink;
use crate::solver::{Counters, Forward, Grid, StepWorkspace};

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

/// Integrates every component in order; `sink_for(m, x_start)` makes the sink of component m and
/// `finish(m, sink)` takes it back. Returns the outputs and the accepted grids.
pub(crate) fn forward_chain<T: Real, S: StageSink<T>>(
    problem: &Problem<'_, T>,
    ws: &mut StepWorkspace<T>,
    counters: &mut Counters,
    tracker: &Tracker,
    mut sink_for: impl FnMut(usize, &[T]) -> S,
    mut finish: impl FnMut(usize, S),
) -> Result<(Outputs<T>, Vec<Grid>), SolveError> {
    let mut outputs = problem.zero_outputs();
    tracker.ws_add(outputs_bytes(&outputs));
    let norm = state_norm::<T>(&problem.stepping);
    let mut grids = Vec::with_capacity(problem.chain.len());
    let mut x_start = problem.x0.to_vec();
    for (m, comp) in problem.chain.iter().enumerate() {
        let fwd = Forward {
            scheme: problem.scheme,
            stepping: &problem.stepping,
            component: m,
            norm: &norm,
            what: "state",
        };
        let mut sink = sink_for(m, &x_start);
        let grid = fwd.run(
            &comp.times,
            &x_start,
            &mut outputs[m],
            &mut sink,
            ws,
            counters,
        )?;
        finish(m, sink);
        if let Some(last) = outputs[m].last() {
            x_start.copy_from_slice(last);
        }
        grids.push(grid);
    }
    Ok((outputs, grids))
}

/// Bytes of an output (or cotangent) buffer.
pub(crate) fn outputs_bytes<T>(o: &Outputs<T>) -> usize {
    o.iter()
        .flatten()
        .map(|v| std::mem::size_of_val(&v[..]))
        .sum()
}

/// Evaluates the loss and checks the cotangents it wrote.
pub(crate) fn cotangents<T: Real>(
    run: &Run<T>,
    problem: &Problem<'_, T>,
    outputs: &Outputs<T>,
    loss: &mut dyn FnMut(&Outputs<T>, &mut Outputs<T>) -> f64,
) -> Result<(f64, Outputs<T>), SolveError> {
    let mut cot = problem.zero_outputs();
    run.tracker.ws_add(outputs_bytes(&cot));
    let value = loss(outputs, &mut cot);
    super::problem::check_cotangents(&cot)?;
    Ok((value, cot))
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
    /// The result of a gradient computation, with the forward counters and tracked peaks
    /// copied into `stats`.
    pub fn into_result(
        self,
        loss: f64,
        outputs: Outputs<T>,
        dx0: Vec<T>,
        dtheta: Vec<Vec<T>>,
        grids: Vec<Grid>,
        mut stats: super::Stats,
    ) -> super::GradResult<T> {
        self.finish_stats(&mut stats);
        super::GradResult {
            loss,
            outputs,
            dx0,
            dtheta,
            grids,
            stats,
        }
    }

    /// Copies the forward counters and the tracked peaks into `stats`.
    fn finish_stats(&self, stats: &mut super::Stats) {
        stats.nfe_forward = self.counters.nfe;
        stats.accepted = self.counters.accepted;
        stats.rejected = self.counters.rejected;
        stats.peak_checkpoint_bytes = self.tracker.peak(Kind::Checkpoint);
        stats.peak_graph_bytes = self.tracker.peak(Kind::Graph);
        stats.peak_workspace_bytes = self.tracker.peak(Kind::Workspace);
        stats.peak_total_bytes = self.tracker.total_peak();
    }
}

/// What a checkpointing forward sweep leaves: outputs, grids and, per component, the state x_n
/// at the start of every accepted step n.
pub(crate) struct Checkpointed<T> {
    pub outputs: Outputs<T>,
    pub grids: Vec<Grid>,
    pub checkpoints: Vec<Vec<Vec<T>>>,
}

/// The forward sweep that keeps the state at the start of every accepted step (ACA and the
/// symplectic adjoint): outputs, grids and the checkpoints of each component.
pub(crate) fn forward_checkpointed<T: Real>(
    problem: &Problem<'_, T>,
    run: &mut Run<T>,
) -> Result<Checkpointed<T>, SolveError> {
    let mut checkpoints = Vec::with_capacity(problem.chain.len());
    let tracker = &run.tracker;
    let (outputs, grids) = forward_chain(
        problem,
        &mut run.ws,
        &mut run.counters,
        tracker,
        |m, _| CheckpointSink {
            dynamics: problem.chain[m].dynamics,
            states: Vec::new(),
            tracker,
        },
        |_, sink| checkpoints.push(sink.states),
    )?;
    Ok(Checkpointed {
        outputs,
        grids,
        checkpoints,
    })
}
