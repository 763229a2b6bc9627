//! The increment of one explicit Runge–Kutta step, Ψ_h(t, x) = h Σᵢ bᵢ kᵢ, and its
//! vector–Jacobian product (reverse mode through the stages, one VJP of f per stage).

use crate::dynamics::Dynamics;
use crate::real::Real;
use crate::scheme::Scheme;
use crate::solver::stage_time;

/// The stage buffers of Ψ: the stage inputs Xᵢ and slopes kᵢ of the last evaluation (s each),
/// the slope cotangents (S) and one VJP result.
pub(crate) struct Increment<T> {
    pub xs: Vec<Vec<T>>,
    pub k: Vec<Vec<T>>,
    kbar: Vec<Vec<T>>,
    u: Vec<T>,
}

impl<T: Real> Increment<T> {
    /// Buffers for a tableau of s stages (S effective) and states of n elements.
    pub fn new(stages: usize, effective: usize, n: usize) -> Self {
        Increment {
            xs: vec![vec![T::zero(); n]; stages],
            k: vec![vec![T::zero(); n]; stages],
            kbar: vec![vec![T::zero(); n]; effective],
            u: vec![T::zero(); n],
        }
    }

    /// Elements held: 2s + S + 1 states.
    pub fn len(stages: usize, effective: usize, n: usize) -> usize {
        (2 * stages + effective + 1) * n
    }

    /// Evaluates the first `stages` stages of the step t → t_end (h = t_end − t, either sign)
    /// from x and writes Ψ = h Σ_{i<S} bᵢ kᵢ into `out`. Returns the evaluations of f.
    #[allow(clippy::too_many_arguments)]
    pub fn eval(
        &mut self,
        f: &dyn Dynamics<T>,
        sch: &Scheme<T>,
        t: f64,
        t_end: f64,
        x: &[T],
        stages: usize,
        out: &mut [T],
        scratch: &mut [T],
    ) -> usize {
        let h = t_end - t;
        let ht = T::of(h);
        for i in 0..stages {
            if i == 0 {
                self.xs[0].copy_from_slice(x);
            } else {
                sch.stage_input(i, ht, x, &self.k, &mut self.xs[i]);
            }
            let ti = if i == 0 {
                t
            } else {
                stage_time(t, h, sch.c(i), t_end)
            };
            f.eval(T::of(ti), &self.xs[i], &mut self.k[i], scratch);
        }
        out.fill(T::zero());
        for i in 0..sch.effective_stages() {
            let w = ht * sch.b(i);
            if w != T::zero() {
                for (o, &v) in out.iter_mut().zip(&self.k[i]) {
                    *o += w * v;
                }
            }
        }
        stages
    }

    /// The VJP of the last [`Increment::eval`] (same t, t_end): with the cotangent `sign·cot`
    /// of Ψ, writes `gx = sign·(∂Ψ/∂x)ᵀ cot` and accumulates `gp += sign·(∂Ψ/∂θ)ᵀ cot`.
    /// Returns the VJPs of f.
    #[allow(clippy::too_many_arguments)]
    pub fn vjp(
        &mut self,
        f: &dyn Dynamics<T>,
        sch: &Scheme<T>,
        t: f64,
        t_end: f64,
        cot: &[T],
        sign: T,
        gx: &mut [T],
        gp: &mut [T],
        scratch: &mut [T],
    ) -> usize {
        let s = sch.effective_stages();
        let h = t_end - t;
        let ht = T::of(h);
        for i in 0..s {
            let w = sign * ht * sch.b(i);
            for (kb, &c) in self.kbar[i].iter_mut().zip(cot) {
                *kb = w * c;
            }
        }
        gx.fill(T::zero());
        for i in (0..s).rev() {
            let ti = if i == 0 {
                t
            } else {
                stage_time(t, h, sch.c(i), t_end)
            };
            f.vjp(
                T::of(ti),
                &self.xs[i],
                &self.kbar[i],
                &mut self.u,
                gp,
                scratch,
            );
            for (g, &v) in gx.iter_mut().zip(&self.u) {
                *g += v;
            }
            for j in 0..i {
                let a = sch.a(i, j);
                if a != T::zero() {
                    let w = ht * a;
                    for (kb, &v) in self.kbar[j].iter_mut().zip(&self.u) {
                        *kb += w * v;
                    }
                }
            }
        }
        s
    }
}
