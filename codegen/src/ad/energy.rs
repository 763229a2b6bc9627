//! Energy-based (Hamiltonian / dissipative) PDE models: `ż = D ∇_z H(z)`.

use super::reverse::{adjoint_or_zero, adjoints};
use crate::ir::{Graph, GraphBuilder, IrError, Type, passes};

/// A fixed linear operator `D` on a periodic 1-D grid: a centred stencil applied to each
/// channel (feature index `channel * n + point`).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearOp {
    /// Centred coefficients (odd length).
    pub coeffs: Vec<f64>,
    /// Grid points.
    pub n: usize,
}

impl LinearOp {
    /// The central difference `∂ₓ ≈ [−1, 0, 1] / (2 dx)` (skew-symmetric; KdV).
    pub fn central_difference(n: usize, dx: f64) -> LinearOp {
        let c = 1.0 / (2.0 * dx);
        LinearOp {
            coeffs: vec![-c, 0.0, c],
            n,
        }
    }

    /// The Laplacian `∂ₓₓ ≈ [1, −2, 1] / dx²` (symmetric negative semi-definite;
    /// Cahn–Hilliard).
    pub fn laplacian(n: usize, dx: f64) -> LinearOp {
        let c = 1.0 / (dx * dx);
        LinearOp {
            coeffs: vec![c, -2.0 * c, c],
            n,
        }
    }
}

/// The dynamics `ż = D ∇_z H(z)` of an energy `H`.
///
/// `h` must have exactly one input `z [B,w]` (`w` a multiple of `op.n`) and one batched
/// output, summed over its features to the energy `H [B,1]` of each sample. The result
/// reads `z` (input 0) and `h`'s parameters (same names and order) and outputs
/// `D ∇_z H` `[B,w]`. `vjp` of it is the adjoint (second order).
pub fn energy_dynamics(h: &Graph, op: &LinearOp) -> Result<Graph, IrError> {
    let context = "energy_dynamics";
    let w = match (h.inputs(), h.output_types().as_slice()) {
        ([input], [Type::Batched { .. }]) => input.width,
        (inputs, outputs) => {
            return Err(IrError::Signature {
                context,
                detail: format!(
                    "H must have one input and one batched output; it has {} inputs and \
                     outputs [{}]",
                    inputs.len(),
                    outputs
                        .iter()
                        .map(|t| t.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    };
    let mut b = GraphBuilder::new();
    let z = b.input(&h.inputs()[0].name, w)?;
    let params = b.import_params(h)?;
    let start = b.len();
    let map = b.inline(h, &[z], &params)?;
    let out = map[h.outputs()[0].index()];
    let energy = match b.ty(out).and_then(Type::width) {
        Some(1) => out,
        _ => b.sum_features(out)?,
    };
    let end = b.len();
    let one = b.constant(1.0, Type::batched(1))?;
    let adj = adjoints(&mut b, start..end, &[(energy, one)])?;
    let grad = adjoint_or_zero(&mut b, &adj, z)?;
    let dz = b.stencil(grad, &op.coeffs, op.n)?;
    Ok(passes::simplify(&b.finish(&[dz])?))
}
