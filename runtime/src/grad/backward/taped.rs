//! The taped backward kind: reverse mode through each step's taped stage evaluations (taped in
//! the forward sweep, or re-taped from what the storage policy kept).

use super::{BackwardContext, BackwardKind, unsupported};
use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::grad::forward::{component_forward, outputs_bytes};
use crate::grad::memory::ProblemSizes;
use crate::grad::record::{Kept, Record, StageTape, StepTapes, TapeSink, release_tapes};
use crate::grad::storage::{Keeps, StoreBytes};
use crate::grad::sweep::sweep;
use crate::real::Real;
use crate::scheme::Scheme;
use crate::solver::{Counters, Grid, Trajectory, stage_time, stages_evaluated, state_norm};

/// Reverse mode through the taped stage evaluations of every step: backpropagation with
/// [`AllTapes`](crate::grad::AllTapes), the paper's checkpoint-per-component baseline with
/// [`ComponentStarts`](crate::grad::ComponentStarts) (the component is replayed on its
/// accepted grid with tapes), ACA with [`StepStates`](crate::grad::StepStates) (each step is
/// re-taped from xₙ), and [`StepStages`](crate::grad::StepStages) (each stage re-taped at its
/// stored input).
#[derive(Clone, Copy, Debug, Default)]
pub struct Taped;

impl BackwardKind for Taped {
    fn name(&self) -> &'static str {
        "taped"
    }

    fn supports(&self, keeps: Keeps) -> bool {
        !matches!(keeps, Keeps::Outputs | Keeps::Binomial(_))
    }

    fn run<T: Real>(
        &self,
        cx: BackwardContext<'_, '_, T>,
        mut records: Vec<Record<T>>,
    ) -> Result<(), SolveError> {
        let BackwardContext {
            problem,
            run,
            grids,
            cot,
            lam,
            dtheta,
            stats,
            ..
        } = cx;
        let n = problem.x0.len();
        let batch = problem.batch();
        let sch = problem.scheme;
        let eff = sch.effective_stages();
        let mut bws = TapeBackWorkspace::new(eff, n);
        run.tracker.ws_add(bws.bytes());
        let replays = records.iter().any(|r| matches!(r.kept, Kept::Start(_)));
        let mut rerun_outputs = if replays {
            problem.zero_outputs()
        } else {
            Vec::new()
        };
        run.tracker.ws_add(outputs_bytes(&rerun_outputs));
        let norm = state_norm::<T>(&problem.stepping);
        for m in (0..problem.chain.len()).rev() {
            let dynamics = problem.chain[m].dynamics;
            let record = records.pop().expect("one record per component");
            let grid = &grids[m];
            let gp = &mut dtheta[m];
            match record.kept {
                Kept::Tapes(_) | Kept::Start(_) => {
                    // Tapes kept by the forward sweep, or re-taped by replaying the component
                    // from its start on its accepted grid.
                    let steps = match record.kept {
                        Kept::Start(x_start) => {
                            let s_eval = stages_evaluated(sch, &problem.stepping);
                            let mut sink = TapeSink::new(dynamics, n, s_eval, eff, &run.tracker);
                            let mut counters = Counters::default();
                            component_forward(problem, m, &norm, Some(grid)).run(
                                &problem.chain[m].times,
                                &x_start,
                                &mut rerun_outputs[m],
                                &mut sink,
                                &mut run.ws,
                                &mut counters,
                            )?;
                            stats.nfe_backward += counters.nfe;
                            stats.recomputed_steps += counters.accepted;
                            sink.into_steps()
                        }
                        Kept::Tapes(steps) => steps,
                        _ => Vec::new(),
                    };
                    let mut taped = TapedStep {
                        dynamics,
                        scheme: sch,
                        ws: &mut bws,
                    };
                    stats.vjp_backward +=
                        taped.sweep(m, grid, &cot[m], &steps, lam, gp, &mut run.ws.scratch)?;
                    release_tapes(steps, &run.tracker);
                }
                Kept::States(_) | Kept::Stages(_) => {
                    let tape_len = dynamics.tape_len(batch);
                    let mut step = StepTapes {
                        t0: 0.0,
                        t1: 0.0,
                        stages: (0..eff).map(|_| StageTape::zeroed(n, tape_len)).collect(),
                    };
                    let step_bytes = eff * StageTape::<T>::len(n, tape_len) * size_of::<T>();
                    run.tracker.gr_add(step_bytes);
                    let ws = &mut run.ws;
                    let kept = &record.kept;
                    let mut taped = TapedStep {
                        dynamics,
                        scheme: sch,
                        ws: &mut bws,
                    };
                    sweep(m, grid, &cot[m], lam, |i, lam| {
                        step.t0 = grid.t[i];
                        step.t1 = grid.t[i + 1];
                        stats.nfe_backward += match kept {
                            Kept::States(states) => {
                                taped.recompute(&states[i], &mut step, &mut ws.k)
                            }
                            Kept::Stages(stored) => taped.retape(&stored[i], &mut step, &mut ws.k),
                            _ => 0,
                        };
                        stats.vjp_backward += taped.back(&step, lam, gp, &mut ws.scratch);
                        Ok(())
                    })?;
                    run.tracker.gr_sub(step_bytes);
                }
                Kept::Nothing | Kept::Binomial(_) | Kept::Pairs(_) => {
                    return Err(unsupported(self.name(), &record));
                }
            }
        }
        Ok(())
    }

    fn predict(&self, keeps: Keeps, z: &ProblemSizes) -> StoreBytes {
        let bws = TapeBackWorkspace::<f64>::len(z.effective, z.state_len) * z.elem;
        let per_component =
            |f: &dyn Fn(usize) -> usize| (0..z.components.len()).map(f).max().unwrap_or(0);
        match keeps {
            Keeps::Tapes | Keeps::Outputs | Keeps::Binomial(_) => StoreBytes {
                workspace: bws,
                ..StoreBytes::default()
            },
            Keeps::Starts => {
                let outputs: usize = z.components.iter().map(|c| c.outputs).sum();
                StoreBytes {
                    checkpoint: 0,
                    graph: per_component(&|m| {
                        (z.components[m].steps * z.effective + z.stages_evaluated)
                            * z.stage_tape_bytes(m)
                    }),
                    workspace: bws + outputs * z.state_bytes(),
                }
            }
            Keeps::StepStates | Keeps::StepStages => StoreBytes {
                checkpoint: 0,
                graph: per_component(&|m| z.effective * z.stage_tape_bytes(m)),
                workspace: bws,
            },
        }
    }
}

/// Buffers of the taped step backward: S stage cotangents and one VJP result.
struct TapeBackWorkspace<T> {
    kbar: Vec<Vec<T>>,
    gx: Vec<T>,
}

impl<T: Real> TapeBackWorkspace<T> {
    pub fn new(effective: usize, n: usize) -> Self {
        TapeBackWorkspace {
            kbar: vec![vec![T::zero(); n]; effective],
            gx: vec![T::zero(); n],
        }
    }
    /// Elements held for S effective stages and states of n elements: S stage cotangents and
    /// one VJP result.
    fn len(effective: usize, n: usize) -> usize {
        (effective + 1) * n
    }
    /// Bytes held.
    fn bytes(&self) -> usize {
        Self::len(self.kbar.len(), self.gx.len()) * size_of::<T>()
    }
}

/// One step of the taped backward: the dynamics, the scheme and the buffers.
struct TapedStep<'s, T: Real> {
    dynamics: &'s dyn Dynamics<T>,
    scheme: &'s Scheme<T>,
    ws: &'s mut TapeBackWorkspace<T>,
}

impl<T: Real> TapedStep<'_, T> {
    /// λ_{n+1} → λ_n (in place) through the stored step; accumulates dL/dθ into `gp`. Returns
    /// the number of taped backwards.
    ///
    /// With k̄_i = ∂L/∂k_i: k̄_i = h b_i λ_{n+1}, then for i = S…1: u = J_iᵀ k̄_i (taped
    /// backward), λ_n += u, k̄_j += h a_ij u for j < i.
    fn back(
        &mut self,
        step: &StepTapes<T>,
        lam: &mut [T],
        gp: &mut [T],
        scratch: &mut [T],
    ) -> usize {
        let (sch, ws) = (self.scheme, &mut *self.ws);
        let s = step.stages.len();
        let h = step.t1 - step.t0;
        let ht = T::of(h);
        for i in 0..s {
            let w = ht * sch.b(i);
            for (kb, &l) in ws.kbar[i].iter_mut().zip(lam.iter()) {
                *kb = w * l;
            }
        }
        for i in (0..s).rev() {
            let st = &step.stages[i];
            let ti = stage_time_of(sch, step.t0, step.t1, i);
            self.dynamics.backward_taped(
                T::of(ti),
                &st.input,
                &st.tape,
                &ws.kbar[i],
                &mut ws.gx,
                gp,
                scratch,
            );
            for (l, &u) in lam.iter_mut().zip(&ws.gx) {
                *l += u;
            }
            for j in 0..i {
                let a = sch.a(i, j);
                if a != T::zero() {
                    let w = ht * a;
                    for (kb, &u) in ws.kbar[j].iter_mut().zip(&ws.gx) {
                        *kb += w * u;
                    }
                }
            }
        }
        s
    }

    /// Re-evaluates the S effective stages of `step` (its times set) from xₙ with tapes, using
    /// `k` (S buffers) for the slopes. Returns the number of evaluations.
    fn recompute(&self, x_n: &[T], step: &mut StepTapes<T>, k: &mut [Vec<T>]) -> usize {
        let sch = self.scheme;
        let ht = T::of(step.t1 - step.t0);
        for i in 0..step.stages.len() {
            let (done, rest) = k.split_at_mut(i);
            let ti = stage_time_of(sch, step.t0, step.t1, i);
            let st = &mut step.stages[i];
            if i == 0 {
                st.input.copy_from_slice(x_n);
            } else {
                sch.stage_input(i, ht, x_n, done, &mut st.input);
            }
            self.dynamics
                .eval_taped(T::of(ti), &st.input, &mut rest[0], &mut st.tape);
        }
        step.stages.len()
    }

    /// Re-evaluates the S effective stages of `step` with tapes at their stored inputs
    /// (`stored`: S·n elements, stage i at `i·n..(i+1)·n`). Returns the number of evaluations.
    fn retape(&self, stored: &[T], step: &mut StepTapes<T>, k: &mut [Vec<T>]) -> usize {
        let n = stored.len() / step.stages.len().max(1);
        for i in 0..step.stages.len() {
            let ti = stage_time_of(self.scheme, step.t0, step.t1, i);
            let st = &mut step.stages[i];
            st.input.copy_from_slice(&stored[i * n..(i + 1) * n]);
            self.dynamics
                .eval_taped(T::of(ti), &st.input, &mut k[i], &mut st.tape);
        }
        step.stages.len()
    }

    /// Reverse mode through all stored steps of component `m` (backprop, checkpoint per
    /// component): λ and dL/dθ in place; returns the number of taped backwards.
    #[allow(clippy::too_many_arguments)]
    fn sweep(
        &mut self,
        m: usize,
        grid: &Grid,
        cot: &Trajectory<T>,
        steps: &[StepTapes<T>],
        lam: &mut [T],
        gp: &mut [T],
        scratch: &mut [T],
    ) -> Result<usize, SolveError> {
        let mut vjps = 0;
        sweep(m, grid, cot, lam, |i, lam| {
            vjps += self.back(&steps[i], lam, gp, scratch);
            Ok(())
        })?;
        Ok(vjps)
    }
}

/// The time of stage i of the step t0 → t1.
fn stage_time_of<T: Real>(sch: &Scheme<T>, t0: f64, t1: f64, i: usize) -> f64 {
    if i == 0 {
        t0
    } else {
        stage_time(t0, t1 - t0, sch.c(i), t1)
    }
}
