//! Reverse-mode through one explicit RK step whose stage evaluations were taped; and the taped
//! recomputation of one step from its checkpoint (ACA).

use super::sinks::{StageTape, StepTapes};
use super::sweep::sweep;
use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::real::Real;
use crate::scheme::Scheme;
use crate::solver::{Grid, stage_time};

/// Buffers of the taped step backward: S stage cotangents and one VJP result.
pub(crate) struct TapeBackWorkspace<T> {
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
    /// Bytes held: S + 1 states.
    pub fn bytes(&self) -> usize {
        (self.kbar.len() + 1) * std::mem::size_of_val(&self.gx[..])
    }
}

/// λ_{n+1} → λ_n (in place) through the stored step; accumulates dL/dθ into `gp`.
///
/// With k̄_i = ∂L/∂k_i: k̄_i = h b_i λ_{n+1}, then for i = S…1: u = J_iᵀ k̄_i (taped backward),
/// λ_n += u, k̄_j += h a_ij u for j < i.
pub(crate) fn backward_step<T: Real>(
    dynamics: &dyn Dynamics<T>,
    sch: &Scheme<T>,
    step: &StepTapes<T>,
    lam: &mut [T],
    gp: &mut [T],
    ws: &mut TapeBackWorkspace<T>,
    scratch: &mut [T],
) -> usize {
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
        let ti = if i == 0 {
            step.t0
        } else {
            stage_time(step.t0, h, sch.c(i), step.t1)
        };
        let st = &step.stages[i];
        dynamics.backward_taped(
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

/// Re-evaluates the S effective stages of the step (t0, x_n) → t1 with tapes into `stages`,
/// using `k` (S buffers) for the slopes. Returns the number of evaluations.
pub(crate) fn recompute_taped<T: Real>(
    dynamics: &dyn Dynamics<T>,
    sch: &Scheme<T>,
    t0: f64,
    t1: f64,
    x_n: &[T],
    stages: &mut [StageTape<T>],
    k: &mut [Vec<T>],
) -> usize {
    let s = stages.len();
    let h = t1 - t0;
    let ht = T::of(h);
    for i in 0..s {
        let (done, rest) = k.split_at_mut(i);
        let st = &mut stages[i];
        if i == 0 {
            st.input.copy_from_slice(x_n);
        } else {
            sch.stage_input(i, ht, x_n, done, &mut st.input);
        }
        let ti = if i == 0 {
            t0
        } else {
            stage_time(t0, h, sch.c(i), t1)
        };
        dynamics.eval_taped(T::of(ti), &st.input, &mut rest[0], &mut st.tape);
    }
    s
}

/// Reverse-mode through all stored steps of component `m` (backprop, checkpoint per component):
/// λ and dL/dθ in place; returns the number of taped backwards.
pub(crate) fn backward_sweep<T: Real>(
    dynamics: &dyn Dynamics<T>,
    sch: &Scheme<T>,
    m: usize,
    grid: &Grid,
    cot: &[Vec<T>],
    steps: &[StepTapes<T>],
    lam: &mut [T],
    gp: &mut [T],
    ws: &mut TapeBackWorkspace<T>,
    scratch: &mut [T],
) -> Result<usize, SolveError> {
    let mut vjps = 0;
    sweep(m, grid, cot, lam, |i, lam| {
        vjps += backward_step(dynamics, sch, &steps[i], lam, gp, ws, scratch);
        Ok(())
    })?;
    Ok(vjps)
}
