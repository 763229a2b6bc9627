//! Backpropagation through every accepted step (torchdiffeq's `odeint` under autograd).

use super::forward::{Run, cotangents, forward_chain, zero_gradients};
use super::memory::{MemoryPrediction, ProblemSizes};
use super::sinks::{TapeSink, release_tapes};
use super::tape_step::{TapeBackWorkspace, backward_sweep};
use super::{GradResult, GradientMethod, Outputs, Problem, Stats};
use crate::error::SolveError;
use crate::real::Real;
use crate::solver::stages_evaluated;

/// Backpropagation: the forward pass tapes every stage evaluation of every accepted step;
/// the backward pass runs reverse-mode through all of them. Memory M·N·s·L, compute 2N.
#[derive(Clone, Copy, Debug, Default)]
pub struct Backprop;

impl<T: Real> GradientMethod<T> for Backprop {
    fn name(&self) -> &'static str {
        "backprop"
    }

    fn gradient(
        &self,
        problem: &Problem<'_, T>,
        loss: &mut dyn FnMut(&Outputs<T>, &mut Outputs<T>) -> f64,
    ) -> Result<GradResult<T>, SolveError> {
        problem.validate()?;
        let mut run = Run::new(problem);
        let n = problem.x0.len();
        let s_eval = stages_evaluated(problem.scheme, &problem.stepping);
        let eff = problem.scheme.effective_stages();
        let mut tapes = Vec::with_capacity(problem.chain.len());
        let tracker = &run.tracker;
        let (outputs, grids) = forward_chain(
            problem,
            &mut run.ws,
            &mut run.counters,
            &run.tracker,
            |m, _| TapeSink::new(problem.chain[m].dynamics, n, s_eval, eff, tracker),
            |_, sink| tapes.push(sink.into_steps()),
        )?;
        let (value, cot) = cotangents(&run, problem, &outputs, loss)?;
        let mut stats = Stats::default();
        let (mut lam, mut dtheta) = zero_gradients(&run, problem);
        let mut bws = TapeBackWorkspace::new(eff, n);
        run.tracker.ws_add(bws.bytes());
        for m in (0..problem.chain.len()).rev() {
            let dynamics = problem.chain[m].dynamics;
            let steps = tapes.pop().unwrap_or_default();
            stats.vjp_backward += backward_sweep(
                dynamics,
                problem.scheme,
                m,
                &grids[m],
                &cot[m],
                &steps,
                &mut lam,
                &mut dtheta[m],
                &mut bws,
                &mut run.ws.scratch,
            )?;
            release_tapes(steps, &run.tracker);
        }
        Ok(run.into_result(value, outputs, lam, dtheta, grids, stats))
    }

    fn predict(&self, z: &ProblemSizes) -> MemoryPrediction {
        let mut stored = 0;
        let mut peak = 0;
        for m in 0..z.components.len() {
            stored += z.components[m].steps * z.effective * z.stage_tape_bytes(m);
            peak = peak.max(stored + z.stages_evaluated * z.stage_tape_bytes(m));
        }
        MemoryPrediction {
            checkpoint_bytes: 0,
            graph_bytes: z.max_scratch_bytes() + peak,
            workspace_bytes: z.common_workspace_bytes() + (z.effective + 1) * z.state_bytes(),
        }
    }
}
