//! The paper's model of the physical systems (HNN++, DGNet `dgnet/pde.py`) on the IR, run by
//! the interpreter.
//!
//! The energy network, with DGNet's tensor names (its `nn.Sequential` is `net`):
//!
//! ```text
//! u [B, n] ─ PeriodicPad(1) → Conv1d(1 → C, k = 3)  net.1 ─ tanh
//!           → Conv1d(C → C, k = 1)  net.3 ─ tanh
//!           → Conv1d(C → 1, k = 1, no bias)  net.5 → Σ over the grid = H(u)
//! ```
//!
//! and the dynamics `du/dt = D ∇_u H` with `D = δ₁` (KdV, skew-symmetric) or `δ₂` (CH,
//! negative semi-definite), built by [`energy_dynamics`] (the gradient is a reverse-mode
//! pass in the graph, so the adjoint differentiates twice). The plain neural ODE
//! ([`ModelForm::Node`]) is the same stack with its one output channel taken as `du/dt`.
//! Parameters are initialised as DGNet does: orthogonal weights (PyTorch's
//! `nn.init.orthogonal_` on the weight flattened to `[out, in·k]`), zero biases.

use symplode_codegen::ad::energy_dynamics;
use symplode_codegen::ir::{Activation, Graph, GraphBuilder};
use symplode_runtime::Real;
use symplode_runtime::interp::Interpreted;
use symplode_runtime::rng::Rng;

use super::error::PhysicsError;
use super::system::PdeSystem;

/// How the network defines `du/dt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelForm {
    /// HNN++: the network is an energy `H`, `du/dt = D ∇H`.
    Energy,
    /// A plain neural ODE: the network's output is `du/dt`.
    Node,
}

impl ModelForm {
    /// `energy` or `node`.
    pub fn name(self) -> &'static str {
        match self {
            ModelForm::Energy => "energy",
            ModelForm::Node => "node",
        }
    }
}

impl std::str::FromStr for ModelForm {
    type Err = PhysicsError;

    fn from_str(s: &str) -> Result<Self, PhysicsError> {
        match s {
            "energy" | "hnn" => Ok(ModelForm::Energy),
            "node" => Ok(ModelForm::Node),
            other => Err(PhysicsError::Config {
                field: "form".into(),
                reason: format!("unknown model form `{other}`; expected `energy` or `node`"),
            }),
        }
    }
}

/// The model of one system.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhysicsModel {
    /// The system (grid size and the operator `D`).
    pub system: PdeSystem,
    /// Hidden channels `C` (200 in the paper).
    pub channels: usize,
    /// Energy (HNN++) or plain neural ODE.
    pub form: ModelForm,
}

impl PhysicsModel {
    /// The HNN++ energy model of `system` with `channels` hidden channels.
    pub fn energy(system: PdeSystem, channels: usize) -> Self {
        PhysicsModel {
            system,
            channels,
            form: ModelForm::Energy,
        }
    }

    fn check(&self) -> Result<(), PhysicsError> {
        self.system.validate()?;
        if self.channels == 0 {
            return Err(PhysicsError::Config {
                field: "channels".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// The network: input `u [B, n]`, output the per-point energy density `[B, n]` (summed
    /// to `H` by [`energy_dynamics`]) or, for [`ModelForm::Node`], `du/dt`.
    ///
    /// # Errors
    /// [`PhysicsError::Config`] for zero channels or a bad grid; graph errors.
    pub fn network(&self) -> Result<Graph, PhysicsError> {
        self.check()?;
        let n = self.system.n;
        let c = self.channels;
        let mut b = GraphBuilder::new();
        let u = b.input("u", n)?;
        let h = b.conv1d_layer(u, "net.1", n, c, 3, Activation::Tanh, true)?;
        let h = b.conv1d_layer(h, "net.3", n, c, 1, Activation::Tanh, true)?;
        let out = b.conv1d_layer(h, "net.5", n, 1, 1, Activation::Identity, false)?;
        Ok(b.finish(&[out])?)
    }

    /// The graph of `du/dt` (input `u [B, n]`, output `[B, n]`).
    ///
    /// # Errors
    /// As [`PhysicsModel::network`].
    pub fn dynamics_graph(&self) -> Result<Graph, PhysicsError> {
        let net = self.network()?;
        Ok(match self.form {
            ModelForm::Energy => energy_dynamics(&net, &self.system.operator())?,
            ModelForm::Node => net,
        })
    }

    /// The number of parameters: `4C + C² + C + C` (`3C + C` for `net.1`, `C² + C` for
    /// `net.3`, `C` for `net.5`).
    pub fn n_params(&self) -> usize {
        let c = self.channels;
        3 * c + c + c * c + c + c
    }

    /// DGNet's initialisation from `seed`: orthogonal weights, zero biases (in the graph's
    /// parameter order).
    ///
    /// # Errors
    /// As [`PhysicsModel::network`].
    pub fn init_params(&self, seed: u64) -> Result<Vec<f64>, PhysicsError> {
        let g = self.network()?;
        let mut rng = Rng::new(seed);
        let mut out = Vec::with_capacity(g.param_len());
        for p in g.params() {
            if p.shape.len() >= 2 {
                let rows = p.shape[0];
                let cols: usize = p.shape[1..].iter().product();
                out.extend(orthogonal(rows, cols, &mut rng));
            } else {
                out.extend(std::iter::repeat_n(0.0, p.shape.iter().product()));
            }
        }
        Ok(out)
    }

    /// The model as [`Dynamics`](symplode_runtime::Dynamics) on the interpreter, with
    /// `params` (the graph's tensors in order; see [`PhysicsModel::init_params`]).
    ///
    /// # Errors
    /// Graph errors; [`PhysicsError::Interp`] for a wrong parameter count or non-finite
    /// values.
    pub fn build<T: Real>(&self, params: &[f64]) -> Result<Interpreted<T>, PhysicsError> {
        let p: Vec<T> = params.iter().map(|&v| T::of(v)).collect();
        Ok(Interpreted::new(self.dynamics_graph()?, p)?)
    }
}

/// A `rows × cols` matrix (row-major) with orthonormal rows (if `rows ≤ cols`) or columns,
/// from the QR factorisation of a standard normal matrix with the signs fixed by `R`'s
/// diagonal (PyTorch's `nn.init.orthogonal_`).
pub fn orthogonal(rows: usize, cols: usize, rng: &mut Rng) -> Vec<f64> {
    // Work on the tall orientation: m ≥ k, columns to orthonormalise.
    let (m, k) = (rows.max(cols), rows.min(cols));
    let mut q: Vec<Vec<f64>> = (0..k)
        .map(|_| (0..m).map(|_| rng.normal()).collect())
        .collect();
    // Modified Gram–Schmidt (twice, for orthogonality to rounding); its R has a positive
    // diagonal, which is PyTorch's sign convention.
    for j in 0..k {
        for _pass in 0..2 {
            let (done, rest) = q.split_at_mut(j);
            for prev in done.iter() {
                let d: f64 = prev.iter().zip(&rest[0]).map(|(a, b)| a * b).sum();
                for (x, y) in rest[0].iter_mut().zip(prev) {
                    *x -= d * y;
                }
            }
            let norm = rest[0].iter().map(|v| v * v).sum::<f64>().sqrt();
            for x in rest[0].iter_mut() {
                *x /= norm;
            }
        }
    }
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            out[r * cols + c] = if rows >= cols { q[c][r] } else { q[r][c] };
        }
    }
    out
}
