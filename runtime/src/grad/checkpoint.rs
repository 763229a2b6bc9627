//! Checkpointing schemes: per component (the paper's "baseline") and per step (ACA).

use super::forward::{
    Checkpointed, Run, cotangents, forward_chain, forward_checkpointed, zero_gradients,
};
use super::memory::{MemoryPrediction, ProblemSizes};
use super::problem::state_norm;
use super::sinks::{PlainSink, StageTape, StepTapes, TapeSink, release_tapes};
use super::sweep::sweep;
use super::tape_step::{TapeBackWorkspace, backward_step, backward_sweep, recompute_taped};
use super::{GradResult, GradientMethod, Outputs, Problem, Stats};
use crate::error::SolveError;
use crate::real::Real;
use crate::solver::{Counters, Forward, stages_evaluated};

/// Checkpoint per component (`odeint_onecheckpoint`): the forward pass keeps only each
/// component's start state; the backward pass re-runs the whole component (same step selection)
/// with tapes and backpropagates through it. Memory M + N·s·L, compute 3N.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckpointComponent;

/// Checkpoint per step (ACA, Zhuang et al. 2020): the forward pass keeps xₙ of every accepted
/// step; the backward pass re-runs one step at a time with tapes. Memory M·N + s·L, compute 3N.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckpointStep;

impl<T: Real> GradientMethod<T> for CheckpointComponent {
    fn name(&self) -> &'static str {
        "checkpoint-component"
    }

    fn gradient(
        &self,
        problem: &Problem<'_, T>,
        loss: &mut dyn FnMut(&Outputs<T>, &mut Outputs<T>) -> f64,
    ) -> Result<GradResult<T>, SolveError> {
        problem.validate()?;
        let mut run = Run::new(problem);
        let n = problem.x0.len();
        let mut starts: Vec<Vec<T>> = Vec::with_capacity(problem.chain.len());
        let tracker = &run.tracker;
        let (outputs, grids) = forward_chain(
            problem,
            &mut run.ws,
            &mut run.counters,
            &run.tracker,
            |m, x| {
                tracker.ck_add(std::mem::size_of_val(x));
                starts.push(x.to_vec());
                PlainSink {
                    dynamics: problem.chain[m].dynamics,
                }
            },
            |_, _| {},
        )?;
        let (value, cot) = cotangents(&run, problem, &outputs, loss)?;
        let mut stats = Stats::default();
        let (mut lam, mut dtheta) = zero_gradients(&run, problem);
        let s_eval = stages_evaluated(problem.scheme, &problem.stepping);
        let eff = problem.scheme.effective_stages();
        let norm = state_norm::<T>(&problem.stepping);
        let mut bws = TapeBackWorkspace::new(eff, n);
        let mut rerun_outputs = problem.zero_outputs();
        run.tracker
            .ws_add(bws.bytes() + super::forward::outputs_bytes(&rerun_outputs));
        for m in (0..problem.chain.len()).rev() {
            let comp = &problem.chain[m];
            let fwd = Forward {
                scheme: problem.scheme,
                stepping: &problem.stepping,
                component: m,
                norm: &norm,
                what: "state",
            };
            let mut sink = TapeSink::new(comp.dynamics, n, s_eval, eff, &run.tracker);
            let mut counters = Counters::default();
            let grid = fwd.run(
                &comp.times,
                &starts[m],
                &mut rerun_outputs[m],
                &mut sink,
                &mut run.ws,
                &mut counters,
            )?;
            stats.nfe_backward += counters.nfe;
            if grid != grids[m] {
                return Err(SolveError::GridMismatch(m));
            }
            let steps = sink.into_steps();
            stats.vjp_backward += backward_sweep(
                comp.dynamics,
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
        let outputs: usize = z.components.iter().map(|c| c.outputs).sum();
        let graph = (0..z.components.len())
            .map(|m| {
                (z.components[m].steps * z.effective + z.stages_evaluated) * z.stage_tape_bytes(m)
            })
            .max()
            .unwrap_or(0);
        MemoryPrediction {
            checkpoint_bytes: z.components.len() * z.state_bytes(),
            graph_bytes: z.max_scratch_bytes() + graph,
            workspace_bytes: z.common_workspace_bytes()
                + (z.effective + 1 + outputs) * z.state_bytes(),
        }
    }
}

impl<T: Real> GradientMethod<T> for CheckpointStep {
    fn name(&self) -> &'static str {
        "aca"
    }

    fn gradient(
        &self,
        problem: &Problem<'_, T>,
        loss: &mut dyn FnMut(&Outputs<T>, &mut Outputs<T>) -> f64,
    ) -> Result<GradResult<T>, SolveError> {
        problem.validate()?;
        let mut run = Run::new(problem);
        let n = problem.x0.len();
        let batch = problem.batch();
        let Checkpointed {
            outputs,
            grids,
            checkpoints,
        } = forward_checkpointed(problem, &mut run)?;
        let (value, cot) = cotangents(&run, problem, &outputs, loss)?;
        let mut stats = Stats::default();
        let (mut lam, mut dtheta) = zero_gradients(&run, problem);
        let eff = problem.scheme.effective_stages();
        let mut bws = TapeBackWorkspace::new(eff, n);
        run.tracker.ws_add(bws.bytes());
        for m in (0..problem.chain.len()).rev() {
            let comp = &problem.chain[m];
            let tape_len = comp.dynamics.tape_len(batch);
            let mut step = StepTapes {
                t0: 0.0,
                t1: 0.0,
                stages: (0..eff)
                    .map(|_| StageTape {
                        input: vec![T::zero(); n],
                        tape: vec![T::zero(); tape_len],
                    })
                    .collect(),
            };
            let step_bytes = eff * (n + tape_len) * std::mem::size_of::<T>();
            run.tracker.gr_add(step_bytes);
            let states = &checkpoints[m];
            let grid = &grids[m];
            let gp = &mut dtheta[m];
            let ws = &mut run.ws;
            sweep(m, grid, &cot[m], &mut lam, |i, lam| {
                step.t0 = grid.t[i];
                step.t1 = grid.t[i + 1];
                stats.nfe_backward += recompute_taped(
                    comp.dynamics,
                    problem.scheme,
                    step.t0,
                    step.t1,
                    &states[i],
                    &mut step.stages,
                    &mut ws.k,
                );
                stats.vjp_backward += backward_step(
                    comp.dynamics,
                    problem.scheme,
                    &step,
                    lam,
                    gp,
                    &mut bws,
                    &mut ws.scratch,
                );
                Ok(())
            })?;
            run.tracker.gr_sub(step_bytes);
        }
        Ok(run.into_result(value, outputs, lam, dtheta, grids, stats))
    }

    fn predict(&self, z: &ProblemSizes) -> MemoryPrediction {
        let graph = (0..z.components.len())
            .map(|m| z.effective * z.stage_tape_bytes(m))
            .max()
            .unwrap_or(0);
        MemoryPrediction {
            checkpoint_bytes: z.total_steps() * z.state_bytes(),
            graph_bytes: z.max_scratch_bytes() + graph,
            workspace_bytes: z.common_workspace_bytes() + (z.effective + 1) * z.state_bytes(),
        }
    }
}
