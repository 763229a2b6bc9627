//! The symplectic partner backward kind (Matsubara, Miyatake & Yaguchi, NeurIPS 2021): the
//! adjoint integrated with the symplectic partner of the forward tableau.

use super::{BackwardContext, BackwardKind, unsupported};
use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::grad::binomial::{StateWalker, backward_extra_states};
use crate::grad::forward::component_forward;
use crate::grad::memory::ProblemSizes;
use crate::grad::record::{CheckpointSink, Kept, Record, StageTape};
use crate::grad::storage::{Keeps, StoreBytes};
use crate::grad::sweep::sweep;
use crate::real::Real;
use crate::scheme::Scheme;
use crate::solver::{Counters, Trajectory, stage_time, stages_evaluated, state_norm};

/// The symplectic adjoint's backward sweep: per accepted step, the S stage states (recomputed
/// from xₙ without a graph, or stored by the forward pass), then the adjoint integrated with
/// the tableau's symplectic partner, one VJP per stage. The gradient equals backpropagation
/// through the solver up to rounding.
///
/// Per step, with uⱼ = Jⱼᵀ μⱼ the VJP of stage j at its cotangent μⱼ and the partner's coupling
/// coefficients Gᵢⱼ (see `symplode_codegen::tableau::SymplecticPartner`):
///
/// ```text
/// Λᵢ = λₙ₊₁ + Σ_{j>i} Gᵢⱼ uⱼ,   μᵢ = h bᵢ Λᵢ      (bᵢ ≠ 0)
/// μᵢ = h Σ_{j>i} Gᵢⱼ uⱼ                            (bᵢ = 0: the b̃ᵢ = h path)
/// λₙ = λₙ₊₁ + Σᵢ uᵢ,   dL/dθ += Σᵢ (∂f/∂θ)ᵀ μᵢ
/// ```
///
/// With [`StepStates`](crate::grad::StepStates) this is the paper's method; with
/// [`StepStages`](crate::grad::StepStages) the stage recomputation disappears (same gradient
/// bit for bit); with [`ComponentStarts`](crate::grad::ComponentStarts) each component is
/// first replayed on its accepted grid to recover xₙ. The backward sweep allocates nothing per
/// step: its buffers are made once per gradient.
#[derive(Clone, Copy, Debug, Default)]
pub struct Partner;

/// Buffers of the symplectic backward step: S stage states (checkpoints), S slopes that become
/// the VJP results uᵢ, and one cotangent.
pub(crate) struct SymplecticWorkspace<T> {
    stage_x: Vec<Vec<T>>,
    ku: Vec<Vec<T>>,
    mu: Vec<T>,
}

impl<T: Real> SymplecticWorkspace<T> {
    /// Buffers for S effective stages of n elements; `recompute`: with the S stage-state
    /// buffers of the recomputation (not needed when the forward pass stored the stages).
    pub fn new(effective: usize, n: usize, recompute: bool) -> Self {
        SymplecticWorkspace {
            stage_x: vec![vec![T::zero(); n]; if recompute { effective } else { 0 }],
            ku: vec![vec![T::zero(); n]; effective],
            mu: vec![T::zero(); n],
        }
    }
    /// Elements of the slopes / VJP results and the cotangent: S + 1 states of n elements.
    pub fn work_len(effective: usize, n: usize) -> usize {
        (effective + 1) * n
    }
    /// Elements of the recomputed stage states: S states, or none when they were stored.
    pub fn stage_len(effective: usize, n: usize, recompute: bool) -> usize {
        if recompute { effective * n } else { 0 }
    }
    /// Bytes of the slopes / VJP results and the cotangent.
    pub fn work_bytes(&self) -> usize {
        Self::work_len(self.ku.len(), self.mu.len()) * size_of::<T>()
    }
    /// Bytes of the stage states.
    pub fn stage_bytes(&self) -> usize {
        Self::stage_len(self.ku.len(), self.mu.len(), !self.stage_x.is_empty()) * size_of::<T>()
    }
}

/// The stage states of one backward step: recomputed from xₙ, or stored by the forward pass
/// (xₙ followed by X₂..X_S, one flat buffer).
pub(crate) enum StageSource<'a, T> {
    /// Recompute X₂..X_S from xₙ (S − 1 evaluations).
    Recompute(&'a [T]),
    /// Stored: `S·n` elements, stage i at `i·n..(i+1)·n`.
    Stored(&'a [T]),
    /// The inputs of taped stages.
    Taped(&'a [StageTape<T>]),
}

/// One backward step of the symplectic adjoint: the dynamics, the scheme and the buffers.
pub(crate) struct SymplecticStep<'s, T: Real> {
    pub dynamics: &'s dyn Dynamics<T>,
    pub scheme: &'s Scheme<T>,
    pub ws: &'s mut SymplecticWorkspace<T>,
}

impl<T: Real> SymplecticStep<'_, T> {
    /// λ_{n+1} → λ_n in place over the step t0 → t1, accumulating dL/dθ into `gp`. Returns
    /// (plain evaluations, VJPs).
    pub fn back(
        &mut self,
        t0: f64,
        t1: f64,
        stages: StageSource<'_, T>,
        lam: &mut [T],
        gp: &mut [T],
        scratch: &mut [T],
    ) -> (usize, usize) {
        let (dynamics, sch, ws) = (self.dynamics, self.scheme, &mut *self.ws);
        let s = sch.effective_stages();
        let h = t1 - t0;
        let ht = T::of(h);
        let time = |i: usize| {
            if i == 0 {
                t0
            } else {
                stage_time(t0, h, sch.c(i), t1)
            }
        };
        // 1. Recompute the stage states X_1..X_S without a graph (S − 1 evaluations), unless the
        //    forward pass stored them.
        let mut evals = 0;
        if let StageSource::Recompute(x_n) = stages {
            for i in 0..s {
                if i == 0 {
                    ws.stage_x[0].copy_from_slice(x_n);
                } else {
                    sch.stage_input(i, ht, x_n, &ws.ku, &mut ws.stage_x[i]);
                }
                if i + 1 < s {
                    dynamics.eval(T::of(time(i)), &ws.stage_x[i], &mut ws.ku[i], scratch);
                    evals += 1;
                }
            }
        }
        // 2. The adjoint stages in reverse with the partner's coefficients (S VJPs); ku[j] becomes u_j.
        let n = lam.len();
        for i in (0..s).rev() {
            sch.adjoint_cotangent(i, ht, lam, &ws.ku, &mut ws.mu);
            let x_i = match stages {
                StageSource::Recompute(_) => &ws.stage_x[i][..],
                StageSource::Stored(all) => &all[i * n..(i + 1) * n],
                StageSource::Taped(tapes) => &tapes[i].input[..],
            };
            dynamics.vjp(T::of(time(i)), x_i, &ws.mu, &mut ws.ku[i], gp, scratch);
        }
        // 3. λ_n = λ_{n+1} + Σ u_i.
        for u in &ws.ku[..s] {
            for (l, &v) in lam.iter_mut().zip(u) {
                *l += v;
            }
        }
        (evals, s)
    }
}

impl BackwardKind for Partner {
    fn name(&self) -> &'static str {
        "partner"
    }

    fn supports(&self, keeps: Keeps) -> bool {
        keeps != Keeps::Outputs
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
        let recompute = records
            .iter()
            .any(|r| matches!(r.kept, Kept::States(_) | Kept::Start(_) | Kept::Binomial(_)));
        let mut sws = SymplecticWorkspace::new(problem.scheme.effective_stages(), n, recompute);
        run.tracker.ck_add(sws.stage_bytes());
        run.tracker.ws_add(sws.work_bytes());
        let norm = state_norm::<T>(&problem.stepping);
        for m in (0..problem.chain.len()).rev() {
            let comp = &problem.chain[m];
            let grid = &grids[m];
            let mut record = records.pop().expect("one record per component");
            if let Kept::Binomial(_) = record.kept {
                let Kept::Binomial(b) = std::mem::replace(&mut record.kept, Kept::Nothing) else {
                    unreachable!("matched above")
                };
                let mut walker = StateWalker::new(b, grid, &run.tracker);
                let s_eval = stages_evaluated(problem.scheme, &problem.stepping);
                let mut step = SymplecticStep {
                    dynamics: comp.dynamics,
                    scheme: problem.scheme,
                    ws: &mut sws,
                };
                let gp = &mut dtheta[m];
                let ws = &mut run.ws;
                sweep(m, grid, &cot[m], lam, |i, lam| {
                    let x = walker.state(i, comp.dynamics, problem.scheme, s_eval, ws, m)?;
                    let (t0, t1) = (grid.t[i], grid.t[i + 1]);
                    let source = StageSource::Recompute(x);
                    let (e, v) = step.back(t0, t1, source, lam, gp, &mut ws.scratch);
                    walker.passed(i);
                    stats.nfe_backward += e;
                    stats.vjp_backward += v;
                    Ok(())
                })?;
                stats.nfe_backward += walker.evals;
                stats.recomputed_steps += walker.replayed;
                walker.finish();
                continue;
            }
            // Replay a component kept by its start to recover the step states.
            let mut replayed = Vec::new();
            if let Kept::Start(x_start) = &record.kept {
                let mut sink = CheckpointSink {
                    dynamics: comp.dynamics,
                    states: Vec::new(),
                    tracker: &run.tracker,
                };
                let mut counters = Counters::default();
                let mut outs = Trajectory::zeros(comp.times.len() - 1, n);
                let outs_bytes = outs.len() * n * std::mem::size_of::<T>();
                run.tracker.ws_add(outs_bytes);
                component_forward(problem, m, &norm, Some(grid)).run(
                    &comp.times,
                    x_start,
                    &mut outs,
                    &mut sink,
                    &mut run.ws,
                    &mut counters,
                )?;
                stats.nfe_backward += counters.nfe;
                stats.recomputed_steps += counters.accepted;
                run.tracker.ws_sub(outs_bytes);
                replayed = sink.states;
            }
            let mut step = SymplecticStep {
                dynamics: comp.dynamics,
                scheme: problem.scheme,
                ws: &mut sws,
            };
            let gp = &mut dtheta[m];
            let scratch = &mut run.ws.scratch;
            let kept = &record.kept;
            if matches!(kept, Kept::Nothing | Kept::Pairs(_)) {
                return Err(unsupported(self.name(), &record));
            }
            sweep(m, grid, &cot[m], lam, |i, lam| {
                let source = match kept {
                    Kept::States(states) => StageSource::Recompute(&states[i]),
                    Kept::Stages(stored) => StageSource::Stored(&stored[i]),
                    Kept::Tapes(steps) => StageSource::Taped(&steps[i].stages),
                    Kept::Start(_) | Kept::Nothing | Kept::Binomial(_) | Kept::Pairs(_) => {
                        StageSource::Recompute(&replayed[i])
                    }
                };
                let (e, v) = step.back(grid.t[i], grid.t[i + 1], source, lam, gp, scratch);
                stats.nfe_backward += e;
                stats.vjp_backward += v;
                Ok(())
            })?;
            let replayed_bytes: usize =
                replayed.iter().map(|v| std::mem::size_of_val(&v[..])).sum();
            run.tracker.ck_sub(replayed_bytes);
            if let Kept::Tapes(steps) = record.kept {
                crate::grad::record::release_tapes(steps, &run.tracker);
            }
        }
        Ok(())
    }

    fn predict(&self, keeps: Keeps, z: &ProblemSizes) -> StoreBytes {
        let work = SymplecticWorkspace::<f64>::work_len(z.effective, z.state_len) * z.elem;
        let stage_states =
            SymplecticWorkspace::<f64>::stage_len(z.effective, z.state_len, true) * z.elem;
        match keeps {
            Keeps::StepStates => StoreBytes {
                checkpoint: stage_states,
                graph: 0,
                workspace: work,
            },
            Keeps::Starts => StoreBytes {
                checkpoint: stage_states
                    + z.components.iter().map(|c| c.steps).max().unwrap_or(0) * z.state_bytes(),
                graph: 0,
                workspace: work
                    + z.components.iter().map(|c| c.outputs).max().unwrap_or(0) * z.state_bytes(),
            },
            Keeps::Binomial(c) => StoreBytes {
                checkpoint: stage_states + backward_extra_states(z, c) * z.state_bytes(),
                graph: 0,
                workspace: work,
            },
            Keeps::StepStages | Keeps::Tapes | Keeps::Outputs => StoreBytes {
                workspace: work,
                ..StoreBytes::default()
            },
        }
    }
}
