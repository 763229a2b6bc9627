//! The linear ODE `ẋ = A x`: a test model with closed-form state and gradients through the
//! matrix exponential (and Van Loan's block trick for `dL/dA`).

use crate::dynamics::{Dynamics, ParamTensor};
use crate::models::error::ModelError;
use crate::real::Real;

/// `dx/dt = A x` for each sample; in row form `Ẋ = X Aᵀ`. One parameter tensor `"A"`, shape
/// `[d, d]`, row-major. Needs no scratch and no tape.
///
/// Exact solution `x(t₁) = e^{Aτ} x₀`; for `L = Σ cᵢ·xᵢ(t₁)`, `dL/dx₀ = e^{Aᵀτ} c` and
/// `dL/dA = ∫₀^τ e^{Aᵀ(τ−s)} M e^{Aᵀs} ds` with `M = Σᵢ cᵢ x₀ᵢᵀ`, which is the upper-right block of
/// `exp([[Aᵀ, M], [0, Aᵀ]]·τ)` (Van Loan 1978).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearOde<T: Real> {
    dim: usize,
    a: Vec<T>,
}

/// `C = A·B` for `n × n` row-major f64 matrices.
fn matmul_sq(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for j in 0..n {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    c
}

/// The matrix exponential `e^A` of an `n × n` row-major f64 matrix, by scaling and squaring
/// with a degree-18 Taylor polynomial (Horner form) on `A/2ˢ`, `‖A/2ˢ‖₁ ≤ 1/2`.
///
/// The truncation error is below 1e-22 relative; the result is accurate to a few ulp times
/// `2ˢ` (about 1e-14 for `‖A‖₁ ≤ 5`). Returns an empty vector when `a.len() != n²` or `n == 0`.
pub fn expm(a: &[f64], n: usize) -> Vec<f64> {
    if n == 0 || a.len() != n * n {
        return Vec::new();
    }
    let norm1 = (0..n)
        .map(|j| (0..n).map(|i| a[i * n + j].abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let mut s = 0i32;
    if norm1.is_finite() && norm1 > 0.5 {
        s = (norm1 / 0.5).log2().ceil() as i32;
    }
    let scale = 0.5f64.powi(s);
    let x: Vec<f64> = a.iter().map(|v| v * scale).collect();
    // Horner: E = I + X/1 (I + X/2 (I + … (I + X/q)))
    const Q: usize = 18;
    let mut e = vec![0.0; n * n];
    for i in 0..n {
        e[i * n + i] = 1.0;
    }
    for k in (1..=Q).rev() {
        let mut t = matmul_sq(&x, &e, n);
        let inv = 1.0 / k as f64;
        for v in t.iter_mut() {
            *v *= inv;
        }
        for i in 0..n {
            t[i * n + i] += 1.0;
        }
        e = t;
    }
    for _ in 0..s {
        e = matmul_sq(&e, &e, n);
    }
    e
}

impl<T: Real> LinearOde<T> {
    /// `ẋ = A x` with `a` the `[dim, dim]` row-major matrix (all finite).
    pub fn from_params(dim: usize, a: Vec<T>) -> Result<Self, ModelError> {
        if dim == 0 {
            return Err(ModelError::InvalidConfig {
                model: "LinearOde",
                field: "dim".into(),
                reason: "the state dimension must be at least 1".into(),
            });
        }
        let expected = dim
            .checked_mul(dim)
            .ok_or_else(|| ModelError::InvalidConfig {
                model: "LinearOde",
                field: "dim".into(),
                reason: "dim² overflows usize".into(),
            })?;
        if a.len() != expected {
            return Err(ModelError::ParamCount {
                model: "LinearOde",
                expected,
                got: a.len(),
                layout: format!("A [{dim}, {dim}]"),
            });
        }
        if let Some(i) = a.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite {
                model: "LinearOde",
                tensor: "A".into(),
                index: i,
                value: a[i].to_string(),
            });
        }
        Ok(LinearOde { dim, a })
    }

    /// The matrix `A`, row-major `[d, d]`.
    pub fn a(&self) -> &[T] {
        &self.a
    }

    /// `A` (times `tau`) in f64.
    fn a_f64(&self, tau: f64) -> Vec<f64> {
        self.a.iter().map(|v| v.f64() * tau).collect()
    }

    /// `x(t1)` from `x(t0) = x0` (rows of d features).
    ///
    /// # Panics
    /// If `x0.len()` is not a multiple of d.
    pub fn exact_state(&self, t0: f64, t1: f64, x0: &[f64]) -> Vec<f64> {
        let d = self.dim;
        assert_eq!(
            x0.len() % d,
            0,
            "LinearOde::exact_state: x0 length {} is not a multiple of d = {d}",
            x0.len()
        );
        let e = expm(&self.a_f64(t1 - t0), d);
        let mut out = vec![0.0; x0.len()];
        for (xr, or) in x0.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            for j in 0..d {
                or[j] = (0..d).map(|k| e[j * d + k] * xr[k]).sum();
            }
        }
        out
    }

    /// For `L = Σ cotangent · x(t1)`: `(dL/dx0, dL/dA)` (the latter `[d, d]` row-major).
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
        let d = self.dim;
        assert_eq!(
            x0.len() % d,
            0,
            "LinearOde::exact_gradient: x0 length {} is not a multiple of d = {d}",
            x0.len()
        );
        assert_eq!(
            cotangent.len(),
            x0.len(),
            "LinearOde::exact_gradient: cotangent and x0 lengths differ"
        );
        let tau = t1 - t0;
        let e = expm(&self.a_f64(tau), d);
        // dL/dx0 = e^{Aᵀτ} c, i.e. row form c·e^{Aτ}.
        let mut gx = vec![0.0; x0.len()];
        for (cr, gr) in cotangent.chunks_exact(d).zip(gx.chunks_exact_mut(d)) {
            for k in 0..d {
                gr[k] = (0..d).map(|j| cr[j] * e[j * d + k]).sum();
            }
        }
        // M = Σᵢ cᵢ x0ᵢᵀ, normalised (the result is linear in M).
        let mut m = vec![0.0; d * d];
        for (cr, xr) in cotangent.chunks_exact(d).zip(x0.chunks_exact(d)) {
            for j in 0..d {
                for k in 0..d {
                    m[j * d + k] += cr[j] * xr[k];
                }
            }
        }
        let mnorm = m.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        if mnorm == 0.0 || !mnorm.is_finite() {
            return (
                gx,
                if mnorm == 0.0 {
                    vec![0.0; d * d]
                } else {
                    vec![f64::NAN; d * d]
                },
            );
        }
        // Block [[Aᵀτ, Mτ/‖M‖], [0, Aᵀτ]] of size 2d.
        let n2 = 2 * d;
        let mut blk = vec![0.0; n2 * n2];
        for j in 0..d {
            for k in 0..d {
                let at = self.a[k * d + j].f64() * tau;
                blk[j * n2 + k] = at;
                blk[(d + j) * n2 + d + k] = at;
                blk[j * n2 + d + k] = m[j * d + k] / mnorm * tau;
            }
        }
        let eb = expm(&blk, n2);
        let mut ga = vec![0.0; d * d];
        for j in 0..d {
            for k in 0..d {
                ga[j * d + k] = eb[j * n2 + d + k] * mnorm;
            }
        }
        (gx, ga)
    }
}

impl<T: Real> Dynamics<T> for LinearOde<T> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn params(&self) -> &[T] {
        &self.a
    }

    fn params_mut(&mut self) -> &mut [T] {
        &mut self.a
    }

    fn param_tensors(&self) -> Vec<ParamTensor> {
        vec![ParamTensor {
            name: "A".into(),
            shape: vec![self.dim, self.dim],
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
        let d = self.dim;
        for (xr, dr) in x.chunks_exact(d).zip(dx.chunks_exact_mut(d)) {
            for (j, dj) in dr.iter_mut().enumerate() {
                let arow = &self.a[j * d..(j + 1) * d];
                *dj = arow.iter().zip(xr).fold(T::zero(), |s, (&a, &x)| s + a * x);
            }
        }
    }

    fn vjp(&self, _t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], _scratch: &mut [T]) {
        let d = self.dim;
        for ((xr, lr), gr) in x
            .chunks_exact(d)
            .zip(lam.chunks_exact(d))
            .zip(gx.chunks_exact_mut(d))
        {
            gr.fill(T::zero());
            for j in 0..d {
                let l = lr[j];
                let arow = &self.a[j * d..(j + 1) * d];
                let grow = &mut gp[j * d..(j + 1) * d];
                for k in 0..d {
                    gr[k] += l * arow[k];
                    grow[k] += l * xr[k];
                }
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
