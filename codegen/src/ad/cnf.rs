//! Continuous normalizing flows: the augmented dynamics `[ż, d log p/dt]` of a vector field.

use super::derivative::zeros;
use super::forward::tangents;
use super::reverse::adjoints;
use crate::ir::{Graph, GraphBuilder, IrError, Type, Value, passes};

/// How [`cnf_dynamics`] computes the divergence `tr(∂f/∂z)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trace {
    /// Exactly, as `Σᵢ eᵢᵀ (∂f/∂z) eᵢ` from `d` forward-mode products with unit tangents
    /// (FFJORD's `brute_force`, used on test sets).
    Exact,
    /// Hutchinson's estimator `εᵀ (∂f/∂z) ε` with `ε` an auxiliary input `[B,d]` that the
    /// caller draws once per solve and keeps fixed (FFJORD's `approximate`); `εᵀ ∂f/∂z` is a
    /// reverse-mode product, as in FFJORD.
    Hutchinson,
}

/// The CNF dynamics of a vector field `f(z, t; θ)`.
///
/// `f` must have exactly one input `z [B,d]` and one output `[B,d]`. The result reads the
/// state `state = [z, log p]` `[B,d+1]` (input 0) and, for [`Trace::Hutchinson`], the noise
/// `eps [B,d]` (input 1); its parameters are `f`'s (same names and order); its one output is
/// `[f(z, t), −tr(∂f/∂z)]` `[B,d+1]`. It is an ordinary graph: [`vjp`](super::vjp) of it
/// is the adjoint (second order).
pub fn cnf_dynamics(f: &Graph, trace: Trace) -> Result<Graph, IrError> {
    let context = "cnf_dynamics";
    let d = match (f.inputs(), f.output_types().as_slice()) {
        ([input], [Type::Batched { width }]) if input.width == *width => *width,
        (inputs, outputs) => {
            return Err(IrError::Signature {
                context,
                detail: format!(
                    "f must map one input [B,d] to one output [B,d]; it has inputs [{}] and \
                     outputs [{}]",
                    inputs
                        .iter()
                        .map(|i| format!("{} [B,{}]", i.name, i.width))
                        .collect::<Vec<_>>()
                        .join(", "),
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
    let state = b.input("state", d + 1)?;
    let eps = match trace {
        Trace::Hutchinson => Some(b.input("eps", d)?),
        Trace::Exact => None,
    };
    let params = b.import_params(f)?;
    let z = b.slice(state, 0, d)?;
    let start = b.len();
    let map = b.inline(f, &[z], &params)?;
    let end = b.len();
    let fz = map[f.outputs()[0].index()];
    let tr = match eps {
        None => {
            let mut diag = Vec::with_capacity(d);
            for i in 0..d {
                let e = unit(&mut b, d, i)?;
                let tan = tangents(&mut b, start..end, &[(z, e)])?;
                diag.push(match tan[fz.index()] {
                    Some(jv) => b.slice(jv, i, 1)?,
                    None => zeros(&mut b, 1)?,
                });
            }
            let all = b.concat(&diag)?;
            b.sum_features(all)?
        }
        Some(eps) => {
            let adj = adjoints(&mut b, start..end, &[(fz, eps)])?;
            match adj[z.index()] {
                Some(ej) => {
                    let p = b.mul(ej, eps)?;
                    b.sum_features(p)?
                }
                None => zeros(&mut b, 1)?,
            }
        }
    };
    let neg = b.scale(tr, -1.0)?;
    let out = b.concat(&[fz, neg])?;
    Ok(passes::simplify(&b.finish(&[out])?))
}

/// The unit vector `eᵢ` of width `d` in every row.
fn unit(b: &mut GraphBuilder, d: usize, i: usize) -> Result<Value, IrError> {
    let mut parts = Vec::with_capacity(3);
    if i > 0 {
        parts.push(zeros(b, i)?);
    }
    parts.push(b.constant(1.0, Type::batched(1))?);
    if i + 1 < d {
        parts.push(zeros(b, d - i - 1)?);
    }
    if parts.len() == 1 {
        Ok(parts[0])
    } else {
        b.concat(&parts)
    }
}
