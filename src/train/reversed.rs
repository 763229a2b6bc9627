//! [`Reversed`]: a vector field run backwards in time, `dz/ds = −f(z, t1 − s)` — how a flow
//! is sampled (`z ~ N(0, I)` at the end time integrated back to the data), since the solvers
//! need increasing times.

use symplode_runtime::{Call, Dynamics, ParamTensor, Real, RowWindow};

/// `dz/ds = −f(z, t1 − s)`: the ODE net run backwards in time, so that solving it from
/// `s = 0` to `s = t1` (the solvers need increasing times) maps `z(t1)` to `x = z(t0)`.
pub struct Reversed<D> {
    /// The forward vector field `f`.
    pub inner: D,
    /// The end time `t1` of the forward flow.
    pub t1: f64,
}

impl<D> Reversed<D> {
    fn time<T: Real>(&self, s: T) -> T {
        T::of(self.t1) - s
    }
}

fn negate<T: Real>(v: &mut [T]) {
    for x in v {
        *x = -*x;
    }
}

impl<T: Real, D: Dynamics<T>> Dynamics<T> for Reversed<D> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn params(&self) -> &[T] {
        self.inner.params()
    }
    fn params_mut(&mut self) -> &mut [T] {
        self.inner.params_mut()
    }
    fn param_tensors(&self) -> Vec<ParamTensor> {
        self.inner.param_tensors()
    }
    fn scratch_len(&self, batch: usize) -> usize {
        batch * self.dim() + self.inner.scratch_len(batch)
    }
    fn tape_len(&self, batch: usize) -> usize {
        self.inner.tape_len(batch)
    }
    fn eval(&self, s: T, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        self.reversed(
            None,
            Call::Eval {
                t: s,
                x,
                dx,
                scratch,
            },
        );
    }
    fn vjp(&self, s: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        let call = Call::Vjp {
            t: s,
            x,
            lam,
            gx,
            gp,
            scratch,
        };
        self.reversed(None, call);
    }
    fn eval_taped(&self, s: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        self.reversed(None, Call::EvalTaped { t: s, x, dx, tape });
    }
    /// Row by row, each row in its own window of the batch (so that it reads its own row of
    /// the inner model's auxiliary inputs).
    fn eval_at(&self, s: &[T], x: &[T], dx: &mut [T], scratch: &mut [T]) {
        let call = Call::EvalAt {
            t: s,
            x,
            dx,
            scratch,
        };
        self.reversed(None, call);
    }
    /// Row by row, as [`Reversed::eval_at`].
    fn vjp_at(&self, s: &[T], x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        let call = Call::VjpAt {
            t: s,
            x,
            lam,
            gx,
            gp,
            scratch,
        };
        self.reversed(None, call);
    }
    fn backward_taped(
        &self,
        s: T,
        x: &[T],
        tape: &[T],
        lam: &[T],
        gx: &mut [T],
        gp: &mut [T],
        scratch: &mut [T],
    ) {
        let call = Call::BackwardTaped {
            t: s,
            x,
            tape,
            lam,
            gx,
            gp,
            scratch,
        };
        self.reversed(None, call);
    }
    /// The inner model's rows of the window (its auxiliary inputs), reversed in time.
    fn call_rows(&self, window: RowWindow, call: Call<'_, T>) {
        self.reversed(Some(window), call);
    }
}

impl<D> Reversed<D> {
    /// `call` on the reversed field: the inner model at `t1 − s` (within `window` of the
    /// batch, when given), with `dx` negated after an evaluation and `λ` negated (in scratch)
    /// before a VJP, since `λᵀ ∂(−f) = (−λ)ᵀ ∂f`. The per-row-time calls run row by row
    /// (as the trait's default `eval_at` and `vjp_at`), each row in its own window (of the
    /// whole batch without one).
    fn reversed<T: Real>(&self, window: Option<RowWindow>, call: Call<'_, T>)
    where
        D: Dynamics<T>,
    {
        let inner = |call: Call<'_, T>| match window {
            Some(w) => self.inner.call_rows(w, call),
            None => call.run(&self.inner),
        };
        match call {
            Call::Eval { t, x, dx, scratch } => {
                let t = self.time(t);
                inner(Call::Eval { t, x, dx, scratch });
                negate(&mut dx[..x.len()]);
            }
            Call::EvalTaped { t, x, dx, tape } => {
                let t = self.time(t);
                inner(Call::EvalTaped { t, x, dx, tape });
                negate(&mut dx[..x.len()]);
            }
            Call::Vjp {
                t,
                x,
                lam,
                gx,
                gp,
                scratch,
            } => {
                let (neg, scratch) = negated(lam, x.len(), scratch);
                let t = self.time(t);
                let lam = &*neg;
                inner(Call::Vjp {
                    t,
                    x,
                    lam,
                    gx,
                    gp,
                    scratch,
                });
            }
            Call::BackwardTaped {
                t,
                x,
                tape,
                lam,
                gx,
                gp,
                scratch,
            } => {
                let (neg, scratch) = negated(lam, x.len(), scratch);
                let t = self.time(t);
                let lam = &*neg;
                inner(Call::BackwardTaped {
                    t,
                    x,
                    tape,
                    lam,
                    gx,
                    gp,
                    scratch,
                });
            }
            call @ (Call::EvalAt { .. } | Call::VjpAt { .. }) => {
                let dim = self.inner.dim();
                let whole = || RowWindow::whole(call.x().len() / dim.max(1));
                let window = window.unwrap_or_else(whole);
                call.per_row(dim, window, |w, c| self.reversed(Some(w), c));
            }
        }
    }
}

/// `−lam[..n]` in the first `n` elements of `scratch`, and the rest of it.
fn negated<'s, T: Real>(lam: &[T], n: usize, scratch: &'s mut [T]) -> (&'s mut [T], &'s mut [T]) {
    let (neg, rest) = scratch.split_at_mut(n);
    neg.copy_from_slice(&lam[..n]);
    negate(neg);
    (neg, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use symplode_codegen::ad::Trace;
    use symplode_codegen::ir::{Activation, Graph};
    use symplode_runtime::compare::max_rel_diff as rel;
    use symplode_runtime::interp::{Interpreted, cnf};
    use symplode_runtime::parallel::Chunked;
    use symplode_runtime::rng::Rng;

    const BATCH: usize = 10;
    const T1: f64 = 0.7;

    fn uniform(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect()
    }

    /// A Hutchinson CNF (ConcatSquash 2 → 6 → 2) with a different noise row per sample.
    fn flow() -> Interpreted<f64> {
        let f = Graph::concat_squash_mlp(2, &[6], Activation::Tanh).unwrap();
        let mut m = cnf(&f, Trace::Hutchinson, uniform(f.param_len(), 1)).unwrap();
        m.set_aux(1, &uniform(2 * BATCH, 2)).unwrap();
        m
    }

    /// `(dx, gx, gp)` of `eval` and `vjp` at `s`, and of the taped pair.
    fn calls(m: &dyn Dynamics<f64>, x: &[f64], lam: &[f64]) -> [Vec<f64>; 5] {
        let (n, p) = (x.len(), m.n_params());
        let mut scratch = vec![0.0; m.scratch_len(BATCH)];
        let mut tape = vec![0.0; m.tape_len(BATCH)];
        let (mut dx, mut gx, mut gp) = (vec![0.0; n], vec![0.0; n], vec![0.0; p]);
        let (mut gx_taped, mut gp_taped) = (vec![0.0; n], vec![0.0; p]);
        m.eval(0.2, x, &mut dx, &mut scratch);
        m.vjp(0.2, x, lam, &mut gx, &mut gp, &mut scratch);
        let mut dx_taped = vec![0.0; n];
        m.eval_taped(0.2, x, &mut dx_taped, &mut tape);
        assert_eq!(dx, dx_taped);
        m.backward_taped(
            0.2,
            x,
            &tape,
            lam,
            &mut gx_taped,
            &mut gp_taped,
            &mut scratch,
        );
        [dx, gx, gp, gx_taped, gp_taped]
    }

    /// The reversed field is `−f(z, t1 − s)`, its VJP that of `−f` (central differences of
    /// `λ · eval`), the taped pair the same; chunked over threads, every chunk reads its own
    /// rows of the noise, so the results equal the unchunked ones to rounding.
    #[test]
    fn reversed_field_its_vjp_and_its_chunks() {
        let x = uniform(3 * BATCH, 3);
        let lam = uniform(3 * BATCH, 4);
        let plain = Reversed {
            inner: flow(),
            t1: T1,
        };
        let [dx, gx, gp, gx_taped, gp_taped] = calls(&plain, &x, &lam);
        let mut forward = vec![0.0; x.len()];
        let mut scratch = vec![0.0; plain.inner.scratch_len(BATCH)];
        plain.inner.eval(T1 - 0.2, &x, &mut forward, &mut scratch);
        assert!(dx.iter().zip(&forward).all(|(a, b)| *a == -*b));
        assert_eq!((&gx, &gp), (&gx_taped, &gp_taped));
        let phi = |x: &[f64]| {
            let mut dx = vec![0.0; x.len()];
            let mut scratch = vec![0.0; plain.scratch_len(BATCH)];
            plain.eval(0.2, x, &mut dx, &mut scratch);
            dx.iter().zip(&lam).map(|(a, b)| a * b).sum::<f64>()
        };
        let h = 1e-6;
        let fd: Vec<f64> = (0..x.len())
            .map(|i| {
                let (mut a, mut b) = (x.clone(), x.clone());
                a[i] += h;
                b[i] -= h;
                (phi(&a) - phi(&b)) / (2.0 * h)
            })
            .collect();
        assert!(rel(&gx, &fd) < 1e-7, "vjp vs central differences");
        let chunked = Chunked::new(
            Reversed {
                inner: flow(),
                t1: T1,
            },
            4,
        )
        .and_then(|c| c.with_threads(2))
        .unwrap();
        let got = calls(&chunked, &x, &lam);
        for (g, w) in got.iter().zip([&dx, &gx, &gp, &gx_taped, &gp_taped]) {
            assert!(rel(g, w) < 1e-14, "chunked vs unchunked: {:e}", rel(g, w));
        }
        // One time per row: row r at `t1 − s_r`, reading its own noise row, chunked or not.
        let s: Vec<f64> = (0..BATCH).map(|r| 0.05 * r as f64).collect();
        let t: Vec<f64> = s.iter().map(|s| T1 - s).collect();
        let mut want = vec![0.0; x.len()];
        plain.inner.eval_at(&t, &x, &mut want, &mut scratch);
        for w in &mut want {
            *w = -*w;
        }
        for m in [&plain as &dyn Dynamics<f64>, &chunked] {
            let mut got = vec![0.0; x.len()];
            let mut scratch = vec![0.0; m.scratch_len(BATCH)];
            m.eval_at(&s, &x, &mut got, &mut scratch);
            assert!(rel(&got, &want) < 1e-14, "eval_at: {:e}", rel(&got, &want));
            let (mut gx_at, mut gp_at) = (vec![0.0; x.len()], vec![0.0; m.n_params()]);
            m.vjp_at(&s, &x, &lam, &mut gx_at, &mut gp_at, &mut scratch);
            assert!(gx_at.iter().chain(&gp_at).all(|v| v.is_finite()), "vjp_at");
        }
    }
}
