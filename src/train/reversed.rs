//! [`Reversed`]: a vector field run backwards in time, `dz/ds = −f(z, t1 − s)` — how a flow
//! is sampled (`z ~ N(0, I)` at the end time integrated back to the data), since the solvers
//! need increasing times.

use symplode_runtime::{Dynamics, ParamTensor, Real};

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
        self.inner.eval(self.time(s), x, dx, scratch);
        negate(&mut dx[..x.len()]);
    }
    fn vjp(&self, s: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        // λᵀ ∂(−f) = (−λ)ᵀ ∂f.
        let (neg, rest) = scratch.split_at_mut(x.len());
        neg.copy_from_slice(&lam[..x.len()]);
        negate(neg);
        self.inner.vjp(self.time(s), x, neg, gx, gp, rest);
    }
    fn eval_taped(&self, s: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        self.inner.eval_taped(self.time(s), x, dx, tape);
        negate(&mut dx[..x.len()]);
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
        let (neg, rest) = scratch.split_at_mut(x.len());
        neg.copy_from_slice(&lam[..x.len()]);
        negate(neg);
        self.inner
            .backward_taped(self.time(s), x, tape, neg, gx, gp, rest);
    }
}
