//! Exponential decay `ẋ = −k ⊙ x`: a test model with closed-form state and gradients.

use crate::dynamics::{Dynamics, ParamTensor};
use crate::models::error::ModelError;
use crate::real::Real;

/// `dx/dt = −k ⊙ x`, one rate per feature (parameter tensor `"k"`, shape `[d]`).
///
/// Solution `x(t₁) = x(t₀)·e^{−k(t₁−t₀)}`. Needs no scratch and no tape.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpDecay<T: Real> {
    k: Vec<T>,
}

impl<T: Real> ExpDecay<T> {
    /// Decay with rates `k` (state dimension `k.len()`, at least 1, all finite).
    pub fn new(k: Vec<T>) -> Result<Self, ModelError> {
        if k.is_empty() {
            return Err(ModelError::InvalidConfig {
                model: "ExpDecay",
                field: "k".into(),
                reason: "needs at least one rate (the state dimension is k.len())".into(),
            });
        }
        if let Some(i) = k.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite {
                model: "ExpDecay",
                tensor: "k".into(),
                index: i,
                value: k[i].to_string(),
            });
        }
        Ok(ExpDecay { k })
    }

    /// The rates.
    pub fn k(&self) -> &[T] {
        &self.k
    }

    /// `x(t1)` from `x(t0) = x0` (rows of `d` features; `x0.len()` must be a multiple of d).
    ///
    /// # Panics
    /// If `x0.len()` is not a multiple of the state dimension.
    pub fn exact_state(&self, t0: f64, t1: f64, x0: &[f64]) -> Vec<f64> {
        let d = self.k.len();
        assert_eq!(
            x0.len() % d,
            0,
            "ExpDecay::exact_state: x0 length {} is not a multiple of d = {d}",
            x0.len()
        );
        let tau = t1 - t0;
        x0.chunks_exact(d)
            .flat_map(|row| {
                row.iter()
                    .zip(&self.k)
                    .map(move |(&x, &k)| x * (-k.f64() * tau).exp())
            })
            .collect()
    }

    /// For `L = Σ cotangent · x(t1)`: `(dL/dx0, dL/dk)`, exactly.
    ///
    /// # Panics
    /// If `x0.len()` is not a multiple of d or `cotangent.len() != x0.len()`.
    pub fn exact_gradient(
        &self,
        t0: f64,
        t1: f64,
        x0: &[f64],
        cotangent: &[f64],
    ) -> (Vec<f64>, Vec<f64>) {
        let d = self.k.len();
        assert_eq!(
            x0.len() % d,
            0,
            "ExpDecay::exact_gradient: x0 length {} is not a multiple of d = {d}",
            x0.len()
        );
        assert_eq!(
            cotangent.len(),
            x0.len(),
            "ExpDecay::exact_gradient: cotangent and x0 lengths differ"
        );
        let tau = t1 - t0;
        let e: Vec<f64> = self.k.iter().map(|k| (-k.f64() * tau).exp()).collect();
        let mut gx = vec![0.0; x0.len()];
        let mut gk = vec![0.0; d];
        for (i, (&x, &c)) in x0.iter().zip(cotangent).enumerate() {
            let j = i % d;
            gx[i] = c * e[j];
            gk[j] -= tau * c * x * e[j];
        }
        (gx, gk)
    }
}

impl<T: Real> Dynamics<T> for ExpDecay<T> {
    fn dim(&self) -> usize {
        self.k.len()
    }

    fn params(&self) -> &[T] {
        &self.k
    }

    fn params_mut(&mut self) -> &mut [T] {
        &mut self.k
    }

    fn param_tensors(&self) -> Vec<ParamTensor> {
        vec![ParamTensor {
            name: "k".into(),
            shape: vec![self.k.len()],
            offset: 0,
        }]
    }

    fn scratch_len(&self, _batch: usize) -> usize {
        0
    }

    fn tape_len(&self, _batch: usize) -> usize {
        0
    }

    fn eval(&self, _t: T, x: &[T], dx: &mut [T], _scratch: &mut [T]) {
        for (xr, dr) in x
            .chunks_exact(self.k.len())
            .zip(dx.chunks_exact_mut(self.k.len()))
        {
            for ((d, &x), &k) in dr.iter_mut().zip(xr).zip(&self.k) {
                *d = -k * x;
            }
        }
    }

    fn vjp(&self, _t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], _scratch: &mut [T]) {
        let d = self.k.len();
        for ((xr, lr), gr) in x
            .chunks_exact(d)
            .zip(lam.chunks_exact(d))
            .zip(gx.chunks_exact_mut(d))
        {
            for j in 0..d {
                gr[j] = -self.k[j] * lr[j];
                gp[j] -= lr[j] * xr[j];
            }
        }
    }

    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], _tape: &mut [T]) {
        self.eval(t, x, dx, &mut []);
    }

    fn backward_taped(
        &self,
        t: T,
        x: &[T],
        _tape: &[T],
        lam: &[T],
        gx: &mut [T],
        gp: &mut [T],
        _scratch: &mut [T],
    ) {
        self.vjp(t, x, lam, gx, gp, &mut []);
    }
}
