//! A validated tableau in floating point: the coefficients the step kernels run on.

use symplode_codegen::tableau::{Q, Tableau, q_to_f64};

use std::sync::Arc;

use crate::error::SolveError;
use crate::real::Real;
use crate::step_kernels::{StepKernels, combine, weighted_sum};

/// The float coefficients of an explicit Runge–Kutta tableau and of its symplectic partner,
/// rounded once from the exact rationals of [`Tableau`] (see `symplode_codegen::tableau`).
///
/// This is the *interpreted* step-kernel source: the solver loops over these coefficients and
/// skips the zero ones. The macro and the JIT emit the same arithmetic with the constants inlined.
#[derive(Clone)]
pub struct Scheme<T: Real> {
    compiled: Option<Arc<dyn StepKernels<T>>>,
    name: String,
    s: usize,
    a: Vec<Vec<T>>,
    b: Vec<T>,
    c: Vec<f64>,
    err: Option<Vec<T>>,
    order: u32,
    embedded_order: Option<u32>,
    fsal: bool,
    eff: usize,
    zero_weight: Vec<bool>,
    coupling: Vec<Vec<T>>,
}

fn floats<T: Real>(v: &[Q]) -> Vec<T> {
    v.iter().map(|x| T::of(q_to_f64(x))).collect()
}

impl<T: Real> Scheme<T> {
    /// Rounds a tableau and its symplectic partner to `T`. Fails when the tableau has no
    /// symplectic partner (see [`Tableau::partner`]).
    pub fn new(tableau: &Tableau) -> Result<Self, SolveError> {
        let partner = tableau.partner()?;
        let s = tableau.stages();
        Ok(Scheme {
            compiled: None,
            name: tableau.name().to_string(),
            s,
            a: tableau.a().iter().map(|row| floats(row)).collect(),
            b: floats(tableau.b()),
            c: tableau.c().iter().map(q_to_f64).collect(),
            err: tableau.error_weights().map(|e| floats(&e)),
            order: tableau.order(),
            embedded_order: tableau.embedded_order(),
            fsal: tableau.is_fsal(),
            eff: partner.stages,
            zero_weight: partner.zero_weight.clone(),
            coupling: partner.coupling.iter().map(|row| floats(row)).collect(),
        })
    }

    /// A built-in tableau by name (`"dopri5"`, `"rk4"`, …).
    pub fn builtin(name: &str) -> Result<Self, SolveError> {
        Self::new(&symplode_codegen::tableau::builtin(name)?)
    }

    /// The tableau's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Number of stages s of the forward tableau.
    pub fn stages(&self) -> usize {
        self.s
    }
    /// Effective stages S that influence x_{n+1} (trailing zero-weight stages dropped).
    pub fn effective_stages(&self) -> usize {
        self.eff
    }
    /// Coefficient a_ij (0-based).
    #[inline]
    pub fn a(&self, i: usize, j: usize) -> T {
        self.a[i][j]
    }
    /// Row i of A (all s entries; only the first i are non-zero).
    #[inline]
    pub fn a_row(&self, i: usize) -> &[T] {
        &self.a[i]
    }
    /// The weights b (all s).
    #[inline]
    pub fn weights(&self) -> &[T] {
        &self.b
    }
    /// Weight b_i.
    #[inline]
    pub fn b(&self, i: usize) -> T {
        self.b[i]
    }
    /// Node c_i (as f64, times are kept in f64).
    #[inline]
    pub fn c(&self, i: usize) -> f64 {
        self.c[i]
    }
    /// Error weights b − b̂, when the tableau has an embedded solution.
    pub fn error_weights(&self) -> Option<&[T]> {
        self.err.as_deref()
    }
    /// Whether stage s is evaluated at x_{n+1} (first same as last).
    pub fn is_fsal(&self) -> bool {
        self.fsal
    }
    /// Order of the propagating solution.
    pub fn order(&self) -> u32 {
        self.order
    }
    /// Order of the embedded solution, if any.
    pub fn embedded_order(&self) -> Option<u32> {
        self.embedded_order
    }
    /// The exponent's order q for step-size control: min(p, p̂) + 1 (5 for dopri5, 3 for bosh3).
    pub fn control_order(&self) -> u32 {
        self.order.min(self.embedded_order.unwrap_or(self.order)) + 1
    }
    /// Whether effective stage i has b_i = 0 (the b̃ = h path of the adjoint).
    #[inline]
    pub fn zero_weight(&self, i: usize) -> bool {
        self.zero_weight[i]
    }
    /// The partner's backward coupling coefficient (i, j), j > i; see
    /// `symplode_codegen::tableau::SymplecticPartner::coupling`.
    #[inline]
    pub fn coupling(&self, i: usize, j: usize) -> T {
        self.coupling[i][j]
    }

    /// Attaches specialised kernels (macro-generated or JIT) for this tableau; every solver and
    /// gradient method then runs them instead of the interpreted loops.
    pub fn with_kernels(mut self, kernels: Arc<dyn StepKernels<T>>) -> Self {
        self.compiled = Some(kernels);
        self
    }

    /// Whether specialised kernels are attached.
    pub fn is_compiled(&self) -> bool {
        self.compiled.is_some()
    }

    /// `out = x + h Σ_{j<i} a_ij k_j`.
    #[inline]
    pub fn stage_input(&self, i: usize, h: T, x: &[T], k: &[Vec<T>], out: &mut [T]) {
        match &self.compiled {
            Some(c) => c.stage_input(i, h, x, k, out),
            None => combine(out, x, h, &self.a[i][..i], &k[..i]),
        }
    }

    /// `out = x + h Σ_{i<m} b_i k_i`.
    #[inline]
    pub fn update(&self, m: usize, h: T, x: &[T], k: &[Vec<T>], out: &mut [T]) {
        match &self.compiled {
            Some(c) => c.update(m, h, x, k, out),
            None => combine(out, x, h, &self.b[..m], &k[..m]),
        }
    }

    /// `out = h Σ_i (b_i − b̂_i) k_i`; zero when the tableau has no embedded solution.
    #[inline]
    pub fn error_estimate(&self, h: T, k: &[Vec<T>], out: &mut [T]) {
        match (&self.compiled, &self.err) {
            (Some(c), Some(_)) => c.error_estimate(h, k, out),
            (None, Some(e)) => weighted_sum(out, h, e, k),
            (_, None) => out.fill(T::zero()),
        }
    }

    /// The symplectic adjoint's cotangent μ_i (see [`StepKernels::adjoint_cotangent`]).
    #[inline]
    pub fn adjoint_cotangent(&self, i: usize, h: T, lam: &[T], u: &[Vec<T>], out: &mut [T]) {
        if let Some(c) = &self.compiled {
            return c.adjoint_cotangent(i, h, lam, u, out);
        }
        let s = self.eff;
        if self.zero_weight[i] {
            out.fill(T::zero());
        } else {
            out.copy_from_slice(lam);
        }
        for j in i + 1..s {
            let g = self.coupling[i][j];
            if g != T::zero() {
                for (m, &v) in out.iter_mut().zip(&u[j]) {
                    *m += g * v;
                }
            }
        }
        let scale = if self.zero_weight[i] {
            h
        } else {
            h * self.b[i]
        };
        for m in out.iter_mut() {
            *m *= scale;
        }
    }
}

impl<T: Real> std::fmt::Debug for Scheme<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheme")
            .field("name", &self.name)
            .field("stages", &self.s)
            .field("effective_stages", &self.eff)
            .field("fsal", &self.fsal)
            .field("compiled", &self.compiled.is_some())
            .finish()
    }
}
