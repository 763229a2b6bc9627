//! The two PDEs of DGNet's data sets on a periodic 1-D grid: the Korteweg–de Vries equation
//! (energy- and mass-conserving) and the Cahn–Hilliard equation (energy-dissipating,
//! mass-conserving), with their exact right-hand sides, energies and the discrete
//! variational derivative (DVD) step residual and Jacobian used to generate the ground truth.
//!
//! Grid: `n` points, `x_k = width·k/n`, `dx = width/n`, indices modulo `n`. Operators
//! (DGNet `experiment-ch/data.py`):
//!
//! - `δ₁u = (u_{k+1} − u_{k−1}) / (2dx)` (central difference, skew-symmetric),
//! - `δ₂u = (u_{k+1} − 2u_k + u_{k−1}) / dx²` (Laplacian, symmetric negative semi-definite),
//! - `|δu|²_k = ((u_{k+1} − u_k)² + (u_k − u_{k−1})²) / (2dx²)`.
//!
//! Equations (`a`, `b`, `γ` as in DGNet):
//!
//! - KdV: `u_t = δ₁(−(a/2)u² + b δ₂u)`, `H = Σ(−(a/6)u³ − (b/2)|δu|²)dx`; with `a = −6`,
//!   `b = 1`: `u_t = δ₁(3u² + δ₂u)`.
//! - Cahn–Hilliard: `u_t = δ₂(−a u + b u³ − γ δ₂u)`, `H = Σ(−(a/2)u² + (b/4)u⁴ + (γ/2)|δu|²)dx`.
//!
//! The DVD scheme replaces, in the right-hand side evaluated between `u` (now) and `v`
//! (next), `u → (u+v)/2`, `u² → (u²+uv+v²)/3`, `u³ → (u³+u²v+uv²+v³)/4`; then
//! `H(v) − H(u) = dx ⟨δH/δ(u,v), v − u⟩` exactly, so KdV conserves `H` and CH dissipates it.

use std::fmt;
use std::str::FromStr;

use symplode_codegen::ad::LinearOp;

use super::error::PhysicsError;

/// Which equation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SystemKind {
    /// Korteweg–de Vries: `u_t = δ₁(−(a/2)u² + b δ₂u)`.
    Kdv,
    /// Cahn–Hilliard: `u_t = δ₂(−a u + b u³ − γ δ₂u)`.
    CahnHilliard,
}

impl SystemKind {
    /// `kdv` or `ch` (the names of DGNet's data sets and of `--system`).
    pub fn name(self) -> &'static str {
        match self {
            SystemKind::Kdv => "kdv",
            SystemKind::CahnHilliard => "ch",
        }
    }
}

impl fmt::Display for SystemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SystemKind {
    type Err = PhysicsError;

    /// `kdv` or `ch` (also `cahn-hilliard`).
    fn from_str(s: &str) -> Result<Self, PhysicsError> {
        match s {
            "kdv" => Ok(SystemKind::Kdv),
            "ch" | "cahn-hilliard" => Ok(SystemKind::CahnHilliard),
            other => Err(PhysicsError::Config {
                field: "system".into(),
                reason: format!("unknown system `{other}`; expected `kdv` or `ch`"),
            }),
        }
    }
}

/// One PDE on a periodic grid with its coefficients (see the [module documentation](self)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PdeSystem {
    /// The equation.
    pub kind: SystemKind,
    /// Grid points `n`.
    pub n: usize,
    /// Domain width (the grid spacing is `width / n`).
    pub width: f64,
    /// Coefficient `a`.
    pub a: f64,
    /// Coefficient `b`.
    pub b: f64,
    /// Coefficient `γ` (Cahn–Hilliard only; 0 for KdV).
    pub gamma: f64,
}

impl PdeSystem {
    /// DGNet's KdV: 50 points, width 10 (`dx = 0.2`), `a = −6`, `b = 1`.
    pub fn kdv() -> Self {
        PdeSystem {
            kind: SystemKind::Kdv,
            n: 50,
            width: 10.0,
            a: -6.0,
            b: 1.0,
            gamma: 0.0,
        }
    }

    /// DGNet's Cahn–Hilliard: 50 points, width 1 (`dx = 0.02`), `a = b = 1`, `γ = 0.0005`.
    pub fn cahn_hilliard() -> Self {
        PdeSystem {
            kind: SystemKind::CahnHilliard,
            n: 50,
            width: 1.0,
            a: 1.0,
            b: 1.0,
            gamma: 0.0005,
        }
    }

    /// The published system of `kind`.
    pub fn of(kind: SystemKind) -> Self {
        match kind {
            SystemKind::Kdv => Self::kdv(),
            SystemKind::CahnHilliard => Self::cahn_hilliard(),
        }
    }

    /// Grid spacing `width / n`.
    pub fn dx(&self) -> f64 {
        self.width / self.n as f64
    }

    /// The operator `D` of the energy form `u_t = D δH/δu`: `δ₁` (KdV) or `δ₂` (CH).
    pub fn operator(&self) -> LinearOp {
        match self.kind {
            SystemKind::Kdv => LinearOp::central_difference(self.n, self.dx()),
            SystemKind::CahnHilliard => LinearOp::laplacian(self.n, self.dx()),
        }
    }

    /// Checks the grid and coefficients.
    ///
    /// # Errors
    /// [`PhysicsError::Config`] for fewer than 3 points or a non-finite or non-positive
    /// width, or non-finite coefficients.
    pub fn validate(&self) -> Result<(), PhysicsError> {
        let bad = |field: &str, reason: String| PhysicsError::Config {
            field: field.into(),
            reason,
        };
        if self.n < 3 {
            return Err(bad(
                "n",
                format!("need at least 3 grid points, got {}", self.n),
            ));
        }
        if !(self.width.is_finite() && self.width > 0.0) {
            return Err(bad(
                "width",
                format!("must be finite and > 0, got {}", self.width),
            ));
        }
        for (name, v) in [("a", self.a), ("b", self.b), ("gamma", self.gamma)] {
            if !v.is_finite() {
                return Err(bad(name, format!("must be finite, got {v}")));
            }
        }
        Ok(())
    }

    /// `out = D g` with `D` the system's operator.
    fn apply_operator(&self, g: &[f64], out: &mut [f64]) {
        match self.kind {
            SystemKind::Kdv => central_difference(g, self.dx(), out),
            SystemKind::CahnHilliard => laplacian(g, self.dx(), out),
        }
    }

    /// The discrete variational derivative `g = δH/δ(u, v)` (with `v = u` the exact
    /// `δH/δu`): KdV `−(a/2)p₂ + b δ₂p₁`, CH `−a p₁ + b p₃ − γ δ₂p₁`, where `p_k` is the
    /// DVD average of `u^k` between `u` and `v`.
    fn variational_derivative(&self, u: &[f64], v: &[f64], g: &mut [f64]) {
        let n = self.n;
        let mut p1 = vec![0.0; n];
        let mut lap = vec![0.0; n];
        for k in 0..n {
            p1[k] = 0.5 * (u[k] + v[k]);
        }
        laplacian(&p1, self.dx(), &mut lap);
        for k in 0..n {
            let (x, y) = (u[k], v[k]);
            g[k] = match self.kind {
                SystemKind::Kdv => {
                    let p2 = (x * x + x * y + y * y) / 3.0;
                    -0.5 * self.a * p2 + self.b * lap[k]
                }
                SystemKind::CahnHilliard => {
                    let p3 = (x * x * x + x * x * y + x * y * y + y * y * y) * 0.25;
                    -self.a * p1[k] + self.b * p3 - self.gamma * lap[k]
                }
            };
        }
    }

    /// The exact right-hand side `du/dt` at `u` (one state of `n` points).
    pub fn rhs(&self, u: &[f64], out: &mut [f64]) {
        let mut g = vec![0.0; self.n];
        self.variational_derivative(u, u, &mut g);
        self.apply_operator(&g, out);
    }

    /// The DVD right-hand side `F(u, v)` (`F(u, u)` is [`PdeSystem::rhs`]).
    pub fn dvd_rhs(&self, u: &[f64], v: &[f64], out: &mut [f64]) {
        let mut g = vec![0.0; self.n];
        self.variational_derivative(u, v, &mut g);
        self.apply_operator(&g, out);
    }

    /// The residual of one DVD step, `R(v) = (v − u)/dt − F(u, v)`.
    pub fn dvd_residual(&self, u: &[f64], v: &[f64], dt: f64, out: &mut [f64]) {
        self.dvd_rhs(u, v, out);
        for k in 0..self.n {
            out[k] = (v[k] - u[k]) / dt - out[k];
        }
    }

    /// `∂R/∂v` of [`PdeSystem::dvd_residual`], dense row-major `n × n`:
    /// `I/dt − D ∂g/∂v` with `∂g/∂v` tridiagonal (periodic).
    pub fn dvd_jacobian(&self, u: &[f64], v: &[f64], dt: f64, jac: &mut [f64]) {
        let n = self.n;
        let dx2 = self.dx() * self.dx();
        // ∂g/∂v as (diagonal, off-diagonal) of a periodic tridiagonal matrix.
        let (diag, off): (Vec<f64>, f64) = match self.kind {
            SystemKind::Kdv => (
                (0..n)
                    .map(|k| -0.5 * self.a * (u[k] + 2.0 * v[k]) / 3.0 - self.b / dx2)
                    .collect(),
                0.5 * self.b / dx2,
            ),
            SystemKind::CahnHilliard => (
                (0..n)
                    .map(|k| {
                        let (x, y) = (u[k], v[k]);
                        -0.5 * self.a
                            + self.b * (x * x + 2.0 * x * y + 3.0 * y * y) * 0.25
                            + self.gamma / dx2
                    })
                    .collect(),
                -0.5 * self.gamma / dx2,
            ),
        };
        let gd = |m: usize, j: usize| -> f64 {
            if m == j {
                diag[m]
            } else if (m + 1) % n == j || (j + 1) % n == m {
                off
            } else {
                0.0
            }
        };
        let dx = self.dx();
        // D's three coefficients on (i−1, i, i+1).
        let d = match self.kind {
            SystemKind::Kdv => [-0.5 / dx, 0.0, 0.5 / dx],
            SystemKind::CahnHilliard => [1.0 / dx2, -2.0 / dx2, 1.0 / dx2],
        };
        jac.fill(0.0);
        for i in 0..n {
            let rows = [(i + n - 1) % n, i, (i + 1) % n];
            for j in 0..n {
                let mut s = 0.0;
                for (c, &m) in d.iter().zip(&rows) {
                    if *c != 0.0 {
                        s += c * gd(m, j);
                    }
                }
                jac[i * n + j] = -s;
            }
            jac[i * n + i] += 1.0 / dt;
        }
    }

    /// The energy `H(u) = Σ_k h_k dx` (see the [module documentation](self)).
    pub fn energy(&self, u: &[f64]) -> f64 {
        let n = self.n;
        let dx = self.dx();
        let mut h = 0.0;
        for k in 0..n {
            let fwd = u[(k + 1) % n] - u[k];
            let bwd = u[k] - u[(k + n - 1) % n];
            let grad2 = (fwd * fwd + bwd * bwd) / (2.0 * dx * dx);
            let x = u[k];
            h += match self.kind {
                SystemKind::Kdv => -self.a / 6.0 * x * x * x - 0.5 * self.b * grad2,
                SystemKind::CahnHilliard => {
                    -0.5 * self.a * x * x + 0.25 * self.b * x * x * x * x + 0.5 * self.gamma * grad2
                }
            };
        }
        h * dx
    }
}

/// The mass `Σ_k u_k` of one state.
pub fn mass(u: &[f64]) -> f64 {
    u.iter().sum()
}

/// `out = δ₁u` (periodic).
pub fn central_difference(u: &[f64], dx: f64, out: &mut [f64]) {
    let n = u.len();
    for k in 0..n {
        out[k] = (u[(k + 1) % n] - u[(k + n - 1) % n]) / (2.0 * dx);
    }
}

/// `out = δ₂u` (periodic).
pub fn laplacian(u: &[f64], dx: f64, out: &mut [f64]) {
    let n = u.len();
    for k in 0..n {
        out[k] = (u[(k + 1) % n] - 2.0 * u[k] + u[(k + n - 1) % n]) / (dx * dx);
    }
}
