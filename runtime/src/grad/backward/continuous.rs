//! The continuous adjoint backward kind (Chen et al. 2018): a backward ODE solve for
//! [x, λ, g_θ].

use super::{BackwardContext, BackwardKind};
use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::grad::memory::ProblemSizes;
use crate::grad::record::Record;
use crate::grad::storage::{Keeps, StoreBytes};
use crate::real::Real;
use crate::solver::sink::StageSink;
use crate::solver::{Counters, Forward, StepWorkspace, Stepping, Trajectory, rms_norm};

/// The continuous adjoint method ("backsolve"): the forward pass keeps only the output states;
/// the backward pass integrates x, λ = ∂L/∂x and g = ∂L/∂θ backward in time,
/// `ẋ = f, λ̇ = −Jᵀλ, ġ = −(∂f/∂θ)ᵀλ`, with the same tableau. Its gradient is an independent
/// discretisation: it converges to the exact one as the tolerance shrinks.
#[derive(Clone, Debug, Default)]
pub struct Adjoint {
    /// Leave the parameter adjoint g out of the backward error norm (Kidger et al. 2021);
    /// fewer backward steps at the same accuracy of x and λ.
    pub seminorm: bool,
    /// Stepping of the backward solve; `None` uses the forward stepping.
    pub backward: Option<Stepping>,
}

/// The augmented right-hand side in reversed time τ = −t.
struct AugmentedSink<'a, T: Real> {
    dynamics: &'a dyn Dynamics<T>,
    n: usize,
}

impl<T: Real> StageSink<T> for AugmentedSink<'_, T> {
    fn eval(&mut self, _i: usize, tau: f64, z: &[T], k: &mut [T], scratch: &mut [T]) {
        let t = T::of(-tau);
        let (x, rest) = z.split_at(self.n);
        let lam = &rest[..self.n];
        let (kx, rest) = k.split_at_mut(self.n);
        let (kl, kg) = rest.split_at_mut(self.n);
        self.dynamics.eval(t, x, kx, scratch);
        for v in kx.iter_mut() {
            *v = -*v;
        }
        kg.fill(T::zero());
        self.dynamics.vjp(t, x, lam, kl, kg, scratch);
    }
    fn probe(&mut self, tau: f64, z: &[T], k: &mut [T], scratch: &mut [T]) {
        self.eval(0, tau, z, k, scratch);
    }
    fn accept(&mut self, _t0: f64, _t1: f64, _x_n: &[T], _fsal: bool) {}
}

/// Elements of the backward solve's buffers for s stages, states of n elements and p
/// parameters: the step workspace of the augmented state [x, λ, g] (s + 4 buffers), the state
/// itself and the one output buffer.
fn augmented_len(stages: usize, n: usize, p: usize) -> usize {
    let m = 2 * n + p;
    StepWorkspace::<f64>::buffer_len(stages, m) + 2 * m
}

impl BackwardKind for Adjoint {
    fn name(&self) -> &'static str {
        "continuous"
    }

    fn supports(&self, _keeps: Keeps) -> bool {
        true
    }

    fn validate(&self) -> Result<(), SolveError> {
        self.backward.as_ref().map_or(Ok(()), Stepping::validate)
    }

    fn run<T: Real>(
        &self,
        cx: BackwardContext<'_, '_, T>,
        _records: Vec<Record<T>>,
    ) -> Result<(), SolveError> {
        let BackwardContext {
            problem,
            run,
            outputs,
            cot,
            lam,
            dtheta,
            stats,
            ..
        } = cx;
        let back_stepping = self.backward.as_ref().unwrap_or(&problem.stepping);
        let n = problem.x0.len();
        let (rtol, atol) = back_stepping.tolerances();
        let seminorm = self.seminorm;
        let mut scratch = std::mem::take(&mut run.ws.scratch);
        for m in (0..problem.chain.len()).rev() {
            let comp = &problem.chain[m];
            let p = comp.dynamics.n_params();
            let norm = move |v: &[T], y0: &[T], y1: &[T]| {
                let part = |r: std::ops::Range<usize>| {
                    rms_norm(&v[r.clone()], &y0[r.clone()], &y1[r], rtol, atol)
                };
                let xl = part(0..n).max(part(n..2 * n));
                if seminorm {
                    xl
                } else {
                    xl.max(part(2 * n..2 * n + p))
                }
            };
            let fwd = Forward {
                scheme: problem.scheme,
                stepping: back_stepping,
                component: m,
                norm: &norm,
                what: "adjoint state",
                replay: None,
            };
            let mut ws = StepWorkspace::new(problem.scheme.stages(), 2 * n + p, 0);
            std::mem::swap(&mut ws.scratch, &mut scratch);
            let mut sink = AugmentedSink {
                dynamics: comp.dynamics,
                n,
            };
            let k_out = comp.times.len() - 1;
            let mut z = vec![T::zero(); 2 * n + p];
            z[..n].copy_from_slice(&outputs[m][k_out - 1]);
            for (l, (&a, &c)) in z[n..2 * n]
                .iter_mut()
                .zip(lam.iter().zip(&cot[m][k_out - 1]))
            {
                *l = a + c;
            }
            let mut out = Trajectory::zeros(1, z.len());
            let aug_bytes = augmented_len(problem.scheme.stages(), n, p) * size_of::<T>();
            run.tracker.ws_add(aug_bytes);
            let mut counters = Counters::default();
            let solved = (1..=k_out).rev().try_for_each(|k| {
                let taus = [-comp.times[k], -comp.times[k - 1]];
                fwd.run(&taus, &z, &mut out, &mut sink, &mut ws, &mut counters)?;
                z.copy_from_slice(&out[0]);
                if k >= 2 {
                    z[..n].copy_from_slice(&outputs[m][k - 2]);
                    for (l, &c) in z[n..2 * n].iter_mut().zip(&cot[m][k - 2]) {
                        *l += c;
                    }
                }
                Ok::<(), SolveError>(())
            });
            std::mem::swap(&mut ws.scratch, &mut scratch);
            if let Err(e) = solved {
                run.ws.scratch = scratch;
                return Err(e);
            }
            run.tracker.ws_sub(aug_bytes);
            stats.nfe_backward += counters.nfe;
            stats.vjp_backward += counters.nfe;
            stats.backward_accepted += counters.accepted;
            stats.backward_rejected += counters.rejected;
            lam.copy_from_slice(&z[n..2 * n]);
            dtheta[m].copy_from_slice(&z[2 * n..]);
        }
        run.ws.scratch = scratch;
        Ok(())
    }

    fn predict(&self, _keeps: Keeps, z: &ProblemSizes) -> StoreBytes {
        let augmented = (0..z.components.len())
            .map(|m| augmented_len(z.stages, z.state_len, z.params(m)) * z.elem)
            .max()
            .unwrap_or(0);
        StoreBytes {
            workspace: augmented,
            ..StoreBytes::default()
        }
    }
}
