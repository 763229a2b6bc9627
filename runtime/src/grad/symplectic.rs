//! The symplectic adjoint method (Matsubara, Miyatake & Yaguchi, NeurIPS 2021).

use super::forward::{Checkpointed, Run, cotangents, forward_checkpointed, zero_gradients};
use super::memory::{MemoryPrediction, ProblemSizes};
use super::sweep::sweep;
use super::{GradResult, GradientMethod, Outputs, Problem, Stats};
use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::real::Real;
use crate::scheme::Scheme;
use crate::solver::Grid;
use crate::solver::stage_time;

/// The symplectic adjoint method: the forward pass keeps xₙ of every accepted step; the
/// backward pass, per step, recomputes the S stage states without a graph and integrates the
/// adjoint with the tableau's symplectic partner, one VJP per stage. The gradient equals
/// backpropagation through the solver up to rounding. Memory M·N + s states plus one
/// evaluation's activations L; compute about 4N.
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
/// The backward sweep allocates nothing per step: its buffers are made once per gradient.
#[derive(Clone, Copy, Debug, Default)]
pub struct SymplecticAdjoint;

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
    /// Bytes of the slopes / VJP results and the cotangent (S + 1 states).
    pub fn work_bytes(&self) -> usize {
        (self.ku.len() + 1) * std::mem::size_of_val(&self.mu[..])
    }
    /// Bytes of the stage states.
    pub fn stage_bytes(&self) -> usize {
        self.stage_x
            .iter()
            .map(|v| std::mem::size_of_val(&v[..]))
            .sum()
    }
}

/// The stage states of one backward step: recomputed from xₙ, or stored by the forward pass
/// (xₙ followed by X₂..X_S, one flat buffer).
pub(crate) enum Stages<'a, T> {
    /// Recompute X₂..X_S from xₙ (S − 1 evaluations).
    Recompute(&'a [T]),
    /// Stored: `S·n` elements, stage i at `i·n..(i+1)·n`.
    Stored(&'a [T]),
}

/// Counts of one backward step: (plain evaluations, VJPs).
#[allow(clippy::too_many_arguments)]
pub(crate) fn symplectic_step<T: Real>(
    dynamics: &dyn Dynamics<T>,
    sch: &Scheme<T>,
    t0: f64,
    t1: f64,
    stages: Stages<'_, T>,
    lam: &mut [T],
    gp: &mut [T],
    ws: &mut SymplecticWorkspace<T>,
    scratch: &mut [T],
) -> (usize, usize) {
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
    if let Stages::Recompute(x_n) = stages {
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
            Stages::Recompute(_) => &ws.stage_x[i][..],
            Stages::Stored(all) => &all[i * n..(i + 1) * n],
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

/// What the forward sweep of either symplectic variant leaves for the backward sweep.
pub(crate) struct Backward<'p, 'a, T: Real> {
    pub problem: &'p Problem<'a, T>,
    pub run: Run<T>,
    pub outputs: Outputs<T>,
    pub grids: Vec<Grid>,
    pub cot: Outputs<T>,
    pub value: f64,
}

impl<T: Real> Backward<'_, '_, T> {
    /// The backward sweep over every component in reverse, taking step i of component m's
    /// stage states from `stages(m, i)`; `recompute` sizes the workspace for recomputation.
    pub fn run<'s>(
        self,
        recompute: bool,
        stages: impl Fn(usize, usize) -> Stages<'s, T>,
    ) -> Result<GradResult<T>, SolveError>
    where
        T: 's,
    {
        let Backward {
            problem,
            mut run,
            outputs,
            grids,
            cot,
            value,
        } = self;
        let mut stats = Stats::default();
        let (mut lam, mut dtheta) = zero_gradients(&run, problem);
        let n = problem.x0.len();
        let mut sws = SymplecticWorkspace::new(problem.scheme.effective_stages(), n, recompute);
        run.tracker.ck_add(sws.stage_bytes());
        run.tracker.ws_add(sws.work_bytes());
        for m in (0..problem.chain.len()).rev() {
            let comp = &problem.chain[m];
            let grid = &grids[m];
            let gp = &mut dtheta[m];
            let scratch = &mut run.ws.scratch;
            sweep(m, grid, &cot[m], &mut lam, |i, lam| {
                let (e, v) = symplectic_step(
                    comp.dynamics,
                    problem.scheme,
                    grid.t[i],
                    grid.t[i + 1],
                    stages(m, i),
                    lam,
                    gp,
                    &mut sws,
                    scratch,
                );
                stats.nfe_backward += e;
                stats.vjp_backward += v;
                Ok(())
            })?;
        }
        Ok(run.into_result(value, outputs, lam, dtheta, grids, stats))
    }
}

impl<T: Real> GradientMethod<T> for SymplecticAdjoint {
    fn name(&self) -> &'static str {
        "symplectic"
    }

    fn gradient(
        &self,
        problem: &Problem<'_, T>,
        loss: &mut dyn FnMut(&Outputs<T>, &mut Outputs<T>) -> f64,
    ) -> Result<GradResult<T>, SolveError> {
        problem.validate()?;
        let mut run = Run::new(problem);
        let Checkpointed {
            outputs,
            grids,
            checkpoints,
        } = forward_checkpointed(problem, &mut run)?;
        let (value, cot) = cotangents(&run, problem, &outputs, loss)?;
        let back = Backward {
            problem,
            run,
            outputs,
            grids,
            cot,
            value,
        };
        back.run(true, |m, i| Stages::Recompute(&checkpoints[m][i]))
    }

    fn predict(&self, z: &ProblemSizes) -> MemoryPrediction {
        MemoryPrediction {
            checkpoint_bytes: (z.total_steps() + z.effective) * z.state_bytes(),
            graph_bytes: z.max_scratch_bytes(),
            workspace_bytes: z.common_workspace_bytes() + (z.effective + 1) * z.state_bytes(),
        }
    }
}
