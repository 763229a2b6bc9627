//! The harmonic oscillator `q̇ = p, ṗ = −ω²q`: a test model with closed-form state and gradients.

use crate::dynamics::{Dynamics, ParamTensor};
use crate::models::error::ModelError;
use crate::real::Real;

/// State `(q, p)` per sample (d = 2), `dq/dt = p`, `dp/dt = −ω² q`; one parameter `"omega"`
/// (shape `[1]`).
///
/// With `u = ωτ`, `τ = t₁ − t₀`: `q(t₁) = q₀ cos u + p₀ τ sinc(u)`,
/// `p(t₁) = −q₀ ω sin u + p₀ cos u` (sinc(u) = sin(u)/u), valid for every ω including 0.
/// Needs no scratch and no tape.
#[derive(Clone, Debug, PartialEq)]
pub struct HarmonicOscillator<T: Real> {
    omega: [T; 1],
}

/// `sin(u)/u`, 1 at u = 0.
fn sinc(u: f64) -> f64 {
    if u == 0.0 { 1.0 } else { u.sin() / u }
}

/// `(u cos u − sin u)/u²` without cancellation near 0 (series for |u| < 0.5).
fn dsinc_u(u: f64) -> f64 {
    if u.abs() < 0.5 {
        // Σ_{n≥1} (−1)ⁿ 2n/(2n+1)! · u^{2n−1}
        let u2 = u * u;
        let mut fact = 1.0; // (2n+1)!
        let mut pow = u; // u^{2n−1}
        let mut sum = 0.0;
        for n in 1..=9 {
            let nf = n as f64;
            fact *= (2.0 * nf) * (2.0 * nf + 1.0);
            let term = 2.0 * nf / fact * pow;
            sum += if n % 2 == 1 { -term } else { term };
            pow *= u2;
        }
        sum
    } else {
        (u * u.cos() - u.sin()) / (u * u)
    }
}

impl<T: Real> HarmonicOscillator<T> {
    /// An oscillator with angular frequency `omega` (finite).
    pub fn new(omega: T) -> Result<Self, ModelError> {
        if !omega.is_finite() {
            return Err(ModelError::NonFinite {
                model: "HarmonicOscillator",
                tensor: "omega".into(),
                index: 0,
                value: omega.to_string(),
            });
        }
        Ok(HarmonicOscillator { omega: [omega] })
    }

    /// The angular frequency ω.
    pub fn omega(&self) -> T {
        self.omega[0]
    }

    /// `x(t1)` from `x(t0) = x0` (rows `(q, p)`).
    ///
    /// # Panics
    /// If `x0.len()` is odd.
    pub fn exact_state(&self, t0: f64, t1: f64, x0: &[f64]) -> Vec<f64> {
        assert_eq!(
            x0.len() % 2,
            0,
            "HarmonicOscillator::exact_state: x0 length {} is odd",
            x0.len()
        );
        let w = self.omega[0].f64();
        let tau = t1 - t0;
        let u = w * tau;
        let (s, c) = u.sin_cos();
        let sc = tau * sinc(u);
        let mut out = Vec::with_capacity(x0.len());
        for row in x0.chunks_exact(2) {
            let (q, p) = (row[0], row[1]);
            out.push(q * c + p * sc);
            out.push(-q * w * s + p * c);
        }
        out
    }

    /// For `L = Σ cotangent · x(t1)`: `(dL/dx0, dL/dω)` (the latter of length 1), exactly.
    ///
    /// # Panics
    /// If `x0.len()` is odd or `cotangent.len() != x0.len()`.
    pub fn exact_gradient(
        &self,
        t0: f64,
        t1: f64,
        x0: &[f64],
        cotangent: &[f64],
    ) -> (Vec<f64>, Vec<f64>) {
        assert_eq!(
            x0.len() % 2,
            0,
            "HarmonicOscillator::exact_gradient: x0 length {} is odd",
            x0.len()
        );
        assert_eq!(
            cotangent.len(),
            x0.len(),
            "HarmonicOscillator::exact_gradient: cotangent and x0 lengths differ"
        );
        let w = self.omega[0].f64();
        let tau = t1 - t0;
        let u = w * tau;
        let (s, c) = u.sin_cos();
        let sc = tau * sinc(u);
        // d/dω [sin(ωτ)/ω] = τ² (u cos u − sin u)/u²
        let dsc = tau * tau * dsinc_u(u);
        let mut gx = Vec::with_capacity(x0.len());
        let mut gw = 0.0;
        for (row, cr) in x0.chunks_exact(2).zip(cotangent.chunks_exact(2)) {
            let (q, p) = (row[0], row[1]);
            let (cq, cp) = (cr[0], cr[1]);
            gx.push(cq * c - cp * w * s);
            gx.push(cq * sc + cp * c);
            let dq = -q * tau * s + p * dsc;
            let dp = -q * (s + u * c) - p * tau * s;
            gw += cq * dq + cp * dp;
        }
        (gx, vec![gw])
    }
}

impl<T: Real> Dynamics<T> for HarmonicOscillator<T> {
    fn dim(&self) -> usize {
        2
    }

    fn params(&self) -> &[T] {
        &self.omega
    }

    fn params_mut(&mut self) -> &mut [T] {
        &mut self.omega
    }

    fn param_tensors(&self) -> Vec<ParamTensor> {
        vec![ParamTensor {
            name: "omega".into(),
            shape: vec![1],
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
        let w2 = self.omega[0] * self.omega[0];
        for (xr, dr) in x.chunks_exact(2).zip(dx.chunks_exact_mut(2)) {
            dr[0] = xr[1];
            dr[1] = -w2 * xr[0];
        }
    }

    fn vjp(&self, _t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], _scratch: &mut [T]) {
        let w = self.omega[0];
        let w2 = w * w;
        let two = T::one() + T::one();
        let mut acc = T::zero();
        for ((xr, lr), gr) in x
            .chunks_exact(2)
            .zip(lam.chunks_exact(2))
            .zip(gx.chunks_exact_mut(2))
        {
            gr[0] = -w2 * lr[1];
            gr[1] = lr[0];
            acc += xr[0] * lr[1];
        }
        gp[0] -= two * w * acc;
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
