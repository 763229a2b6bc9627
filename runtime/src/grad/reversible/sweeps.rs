//! The forward and backward sweeps of the algebraically reversible scheme over a chain.

use super::increment::Increment;
use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::grad::Stats;
use crate::grad::forward::{Run, outputs_bytes};
use crate::grad::problem::{Outputs, Problem};
use crate::grad::record::{Kept, Record};
use crate::grad::sweep::sweep;
use crate::real::Real;
use crate::scheme::Scheme;
use crate::solver::{Adaptive, Grid, Stepping, state_norm};

/// The buffers of both sweeps: the pair (y, z), a trial pair, the two increments, the error,
/// z̄, one VJP result, and the stage buffers of Ψ.
pub(crate) struct RevWork<T> {
    y: Vec<T>,
    z: Vec<T>,
    y1: Vec<T>,
    z1: Vec<T>,
    a: Vec<T>,
    b: Vec<T>,
    err: Vec<T>,
    zbar: Vec<T>,
    g: Vec<T>,
    inc: Increment<T>,
    len: usize,
}

impl<T: Real> RevWork<T> {
    /// Buffers for this tableau and states of n elements.
    pub fn new(stages: usize, effective: usize, n: usize) -> Self {
        let v = || vec![T::zero(); n];
        RevWork {
            y: v(),
            z: v(),
            y1: v(),
            z1: v(),
            a: v(),
            b: v(),
            err: v(),
            zbar: v(),
            g: v(),
            inc: Increment::new(stages, effective, n),
            len: Self::len(stages, effective, n),
        }
    }
    /// Elements held: nine states and the increment's stage buffers.
    pub fn len(stages: usize, effective: usize, n: usize) -> usize {
        9 * n + Increment::<T>::len(stages, effective, n)
    }
    fn bytes(&self) -> usize {
        self.len * size_of::<T>()
    }
}

/// Which states a reversible forward sweep keeps per component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The final pair (y_N, z_N) only: the backward sweep reconstructs the rest.
    Final,
    /// Every pair (y_n, z_n), n = 0..=N (backpropagation through the same scheme).
    All,
}

/// y₁ = λ y + (1 − λ) z + a.
fn couple<T: Real>(lambda: T, y: &[T], z: &[T], a: &[T], out: &mut [T]) {
    let mu = T::one() - lambda;
    for (((o, &y), &z), &a) in out.iter_mut().zip(y).zip(z).zip(a) {
        *o = lambda * y + mu * z + a;
    }
}

/// Everything one component's forward integration needs.
struct Comp<'a, T: Real> {
    f: &'a dyn Dynamics<T>,
    sch: &'a Scheme<T>,
    lambda: T,
    component: usize,
}

impl<T: Real> Comp<'_, T> {
    /// The step (t, y, z) → (t_next, y1, z1) of the reversible scheme; `stages`: stages of the
    /// first increment (s when its error estimate is needed). Returns the evaluations.
    fn step(
        &self,
        w: &mut RevWork<T>,
        t: f64,
        t_next: f64,
        stages: usize,
        scratch: &mut [T],
    ) -> usize {
        let mut evals = w
            .inc
            .eval(self.f, self.sch, t, t_next, &w.z, stages, &mut w.a, scratch);
        if stages == self.sch.stages() && self.sch.error_weights().is_some() {
            self.sch
                .error_estimate(T::of(t_next - t), &w.inc.k, &mut w.err);
        }
        couple(self.lambda, &w.y, &w.z, &w.a, &mut w.y1);
        evals += w.inc.eval(
            self.f,
            self.sch,
            t_next,
            t,
            &w.y1,
            self.sch.effective_stages(),
            &mut w.b,
            scratch,
        );
        for ((z1, &z), &b) in w.z1.iter_mut().zip(&w.z).zip(&w.b) {
            *z1 = z - b;
        }
        evals
    }

    fn non_finite(&self, step: usize, t: f64) -> SolveError {
        SolveError::NonFinite {
            what: "state",
            component: self.component,
            step,
            t,
        }
    }
}

/// What the forward sweep returns: the outputs, the accepted grids and the records.
pub(crate) type Swept<T> = (Outputs<T>, Vec<Grid>, Vec<Record<T>>);

/// The forward sweep: outputs, grids and per component the kept pairs. Counters go to `run`.
pub(crate) fn forward<T: Real>(
    problem: &Problem<'_, T>,
    run: &mut Run<T>,
    lambda: f64,
    keep: Keep,
) -> Result<Swept<T>, SolveError> {
    let sch = problem.scheme;
    let n = problem.x0.len();
    let mut outputs = problem.zero_outputs();
    run.tracker.ws_add(outputs_bytes(&outputs));
    let mut w = RevWork::new(sch.stages(), sch.effective_stages(), n);
    run.tracker.ws_add(w.bytes());
    let norm = state_norm::<T>(&problem.stepping);
    let state_bytes = size_of_val(problem.x0);
    let mut grids = Vec::with_capacity(problem.chain.len());
    let mut records = Vec::with_capacity(problem.chain.len());
    let mut x_start = problem.x0.to_vec();
    for (m, comp) in problem.chain.iter().enumerate() {
        let c = Comp {
            f: comp.dynamics,
            sch,
            lambda: T::of(lambda),
            component: m,
        };
        w.y.copy_from_slice(&x_start);
        w.z.copy_from_slice(&x_start);
        let mut pairs = Vec::new();
        let push = |w: &RevWork<T>, pairs: &mut Vec<Vec<T>>| {
            run.tracker.ck_add(2 * state_bytes);
            pairs.push(w.y.clone());
            pairs.push(w.z.clone());
        };
        if keep == Keep::All {
            push(&w, &mut pairs);
        }
        let times = &comp.times;
        let mut grid = Grid {
            t: vec![times[0]],
            output_at: Vec::with_capacity(times.len() - 1),
        };
        let mut t = times[0];
        let scratch = &mut run.ws.scratch;
        let counters = &mut run.counters;
        let mut h = match &problem.stepping {
            Stepping::Adaptive(a) => {
                if sch.error_weights().is_none() {
                    return Err(SolveError::NotAdaptive(sch.name().to_string()));
                }
                a.first_step
                    .unwrap_or_else(|| {
                        // f(t0, y0) scaled as in Hairer & Wanner's first guess (one evaluation).
                        comp.dynamics.eval(T::of(t), &w.y, &mut w.a, scratch);
                        counters.nfe += 1;
                        let d0 = norm(&w.y, &w.y, &w.y);
                        let d1 = norm(&w.a, &w.y, &w.y);
                        if d0 < 1e-5 || d1 < 1e-5 {
                            1e-6
                        } else {
                            0.01 * d0 / d1
                        }
                    })
                    .min(a.max_step)
            }
            Stepping::Fixed { .. } => 0.0,
        };
        let mut trials = 0usize;
        for win in times.windows(2) {
            let (t_a, t_b) = (win[0], win[1]);
            match &problem.stepping {
                Stepping::Fixed { steps } => {
                    let hh = (t_b - t_a) / *steps as f64;
                    for i in 0..*steps {
                        let t_next = if i + 1 == *steps {
                            t_b
                        } else {
                            t_a + (i + 1) as f64 * hh
                        };
                        counters.nfe += c.step(&mut w, t, t_next, sch.effective_stages(), scratch);
                        if w.y1.iter().chain(&w.z1).any(|v| !v.is_finite()) {
                            return Err(c.non_finite(counters.accepted + 1, t_next));
                        }
                        std::mem::swap(&mut w.y, &mut w.y1);
                        std::mem::swap(&mut w.z, &mut w.z1);
                        counters.accepted += 1;
                        grid.t.push(t_next);
                        t = t_next;
                        if keep == Keep::All {
                            push(&w, &mut pairs);
                        }
                    }
                }
                Stepping::Adaptive(a) => {
                    while t < t_b {
                        let t_next = if t + h >= t_b { t_b } else { t + h };
                        let hn = t_next - t;
                        if hn <= 0.0 || hn < a.min_step && t_next != t_b {
                            return Err(underflow(m, t, hn, a));
                        }
                        trials += 1;
                        if trials > a.max_steps {
                            return Err(SolveError::TooManySteps {
                                component: m,
                                max_steps: a.max_steps,
                                t,
                                t_end: *times.last().unwrap_or(&t_b),
                            });
                        }
                        counters.nfe += c.step(&mut w, t, t_next, sch.stages(), scratch);
                        let mut ratio = norm(&w.err, &w.y, &w.y1);
                        if !ratio.is_finite() || w.y1.iter().chain(&w.z1).any(|v| !v.is_finite()) {
                            ratio = f64::INFINITY;
                        }
                        let accepted = ratio <= 1.0;
                        let factor = step_factor(a, ratio, sch.control_order(), accepted);
                        if accepted {
                            std::mem::swap(&mut w.y, &mut w.y1);
                            std::mem::swap(&mut w.z, &mut w.z1);
                            counters.accepted += 1;
                            grid.t.push(t_next);
                            t = t_next;
                            if keep == Keep::All {
                                push(&w, &mut pairs);
                            }
                        } else {
                            counters.rejected += 1;
                        }
                        h = (hn * factor).min(a.max_step);
                        if !accepted && (h < a.min_step || t + h == t) {
                            if !ratio.is_finite() {
                                return Err(c.non_finite(counters.accepted + 1, t + hn));
                            }
                            return Err(underflow(m, t, h, a));
                        }
                    }
                }
            }
            grid.output_at.push(grid.t.len() - 1);
            outputs[m][grid.output_at.len() - 1].copy_from_slice(&w.y);
        }
        if keep == Keep::Final {
            push(&w, &mut pairs);
        }
        x_start.copy_from_slice(&w.y);
        grids.push(grid);
        records.push(Record {
            kept: Kept::Pairs(pairs),
        });
    }
    run.tracker.ws_sub(w.bytes());
    Ok((outputs, grids, records))
}

fn underflow(component: usize, t: f64, h: f64, a: &Adaptive) -> SolveError {
    SolveError::StepSizeUnderflow {
        component,
        t,
        h,
        min_step: a.min_step,
    }
}

/// The I controller's step factor after a trial with error ratio `ratio` (q: control order);
/// an accepted step never shrinks the next one.
fn step_factor(a: &Adaptive, ratio: f64, q: u32, accepted: bool) -> f64 {
    if ratio == 0.0 {
        return a.max_growth;
    }
    let raw = a.safety * ratio.powf(-1.0 / q as f64);
    let lo = if accepted { 1.0 } else { a.min_shrink };
    if raw.is_nan() {
        lo
    } else {
        raw.clamp(lo, a.max_growth)
    }
}

/// What the backward sweep needs besides the records.
pub(crate) struct Backward<'p, 'a, T: Real> {
    pub problem: &'p Problem<'a, T>,
    pub outputs: &'p Outputs<T>,
    pub grids: &'p [Grid],
    pub cot: &'p Outputs<T>,
    pub lambda: f64,
}

/// The backward sweep: reconstructs (y_n, z_n) from the kept final pair (or reads them when
/// every pair was kept) and backpropagates through each reversible step. λ and dL/dθ in
/// place; the largest reconstruction error of a component's start goes to `stats`.
pub(crate) fn backward<T: Real>(
    b: Backward<'_, '_, T>,
    run: &mut Run<T>,
    mut records: Vec<Record<T>>,
    lam: &mut [T],
    dtheta: &mut [Vec<T>],
    stats: &mut Stats,
) -> Result<(), SolveError> {
    let problem = b.problem;
    let sch = problem.scheme;
    let n = problem.x0.len();
    let s = sch.effective_stages();
    let lambda = T::of(b.lambda);
    let mu = T::one() - lambda;
    let inv = T::one() / lambda;
    let mut w = RevWork::new(sch.stages(), s, n);
    run.tracker.ws_add(w.bytes());
    let state_bytes = size_of_val(problem.x0);
    for m in (0..problem.chain.len()).rev() {
        let f = problem.chain[m].dynamics;
        let grid = &b.grids[m];
        let Some(Record {
            kept: Kept::Pairs(pairs),
        }) = records.pop()
        else {
            return Err(SolveError::BadOption {
                name: "forward pass",
                value: "not a reversible forward pass".into(),
                reason: "the reversible backward sweep needs the pairs its forward sweep kept",
            });
        };
        let all = pairs.len() > 2;
        let last = pairs.len() - 2;
        w.y.copy_from_slice(&pairs[last]);
        w.z.copy_from_slice(&pairs[last + 1]);
        w.zbar.fill(T::zero());
        let gp = &mut dtheta[m];
        let scratch = &mut run.ws.scratch;
        let (mut evals, mut vjps) = (0, 0);
        sweep(m, grid, &b.cot[m], lam, |i, lam| {
            let (t0, t1) = (grid.t[i], grid.t[i + 1]);
            // z_{n+1} = z_n − Ψ_{−h}(t1, y_{n+1}): ȳ −= J_bᵀ z̄, θ̄ −= (∂b/∂θ)ᵀ z̄.
            evals += w.inc.eval(f, sch, t1, t0, &w.y, s, &mut w.b, scratch);
            vjps += w
                .inc
                .vjp(f, sch, t1, t0, &w.zbar, -T::one(), &mut w.g, gp, scratch);
            for (l, &g) in lam.iter_mut().zip(&w.g) {
                *l += g;
            }
            if all {
                w.z.copy_from_slice(&pairs[2 * i + 1]);
            } else {
                for (z, &bb) in w.z.iter_mut().zip(&w.b) {
                    *z += bb;
                }
            }
            // y_{n+1} = λ y_n + (1 − λ) z_n + Ψ_h(t0, z_n).
            evals += w.inc.eval(f, sch, t0, t1, &w.z, s, &mut w.a, scratch);
            if all {
                w.y.copy_from_slice(&pairs[2 * i]);
            } else {
                for ((y, &z), &a) in w.y.iter_mut().zip(&w.z).zip(&w.a) {
                    *y = (*y - mu * z - a) * inv;
                }
            }
            vjps += w
                .inc
                .vjp(f, sch, t0, t1, lam, T::one(), &mut w.g, gp, scratch);
            for ((zb, &l), &g) in w.zbar.iter_mut().zip(lam.iter()).zip(&w.g) {
                *zb += mu * l + g;
            }
            for l in lam.iter_mut() {
                *l *= lambda;
            }
            if !all && w.y.iter().chain(&w.z).any(|v| !v.is_finite()) {
                return Err(SolveError::NonFinite {
                    what: "reconstructed state",
                    component: m,
                    step: i,
                    t: t0,
                });
            }
            Ok(())
        })?;
        stats.nfe_backward += evals;
        stats.vjp_backward += vjps;
        // z₀ = y₀: the start's cotangent is ȳ₀ + z̄₀.
        for (l, &zb) in lam.iter_mut().zip(&w.zbar) {
            *l += zb;
        }
        let start: &[T] = if m == 0 {
            problem.x0
        } else {
            b.outputs[m - 1].last().unwrap_or(problem.x0)
        };
        let err =
            w.y.iter()
                .chain(&w.z)
                .zip(start.iter().chain(start))
                .map(|(&r, &x)| (r - x).f64().abs())
                .fold(0.0, f64::max);
        stats.x0_reconstruction_error = stats.x0_reconstruction_error.max(err);
        run.tracker.ck_sub(pairs.len() * state_bytes);
    }
    run.tracker.ws_sub(w.bytes());
    Ok(())
}
