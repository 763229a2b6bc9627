//! The tangent (variational) system of a vector field: one graph that evaluates `f` and its
//! directional derivative together, so that the runtime can integrate `x` and `ẋ` as one
//! state and take second derivatives with the first-order machinery (see
//! [`tangent_system`]).

use super::transform::{Wrt, jvp};
use crate::ir::{Graph, GraphBuilder, IrError, Type, passes};

/// The tangent system of `f(x, t; θ)` (input 0 the state `x [B,d]`, one output `[B,d]`):
///
/// ```text
/// F([x | ẋ], t; [θ, θ̇]) = [ f(x, t; θ) | ∂f/∂x · ẋ + ∂f/∂θ · θ̇ ]
/// ```
///
/// The result reads input 0 `x_and_tangent [B,2d]` (each row `x` then `ẋ`), then `f`'s other
/// inputs unchanged (auxiliary inputs such as a CNF's noise), and the parameters `θ` (`f`'s,
/// same names and order) followed by `θ̇` (one `{name}.tangent` per parameter, same shapes);
/// its one output is `[B,2d]`.
///
/// Integrating `F` with a Runge–Kutta tableau gives the states of `f`'s solution and,
/// exactly, their forward-mode tangents (the tableau is linear in the slopes). Its
/// vector–Jacobian product with cotangent `[μ̇ | μ]` is the tangent of `f`'s VJP:
/// the `x` part is `d/dε (∂f/∂x)ᵀμ + (∂f/∂x)ᵀμ̇`, the `ẋ` part is `(∂f/∂x)ᵀμ`, the `θ`
/// part is `d/dε (∂f/∂θ)ᵀμ + (∂f/∂θ)ᵀμ̇` and the `θ̇` part `(∂f/∂θ)ᵀμ`, where `d/dε` moves
/// `(x, θ)` along `(ẋ, θ̇)` (symmetry of second derivatives). So the symplectic adjoint of `F`
/// is forward mode through the adjoint of `f`: a Hessian-vector product.
///
/// ```
/// use symplode_codegen::ad::tangent_system;
/// use symplode_codegen::ir::{Activation, Graph, IrError};
///
/// let f = Graph::mlp(2, &[8], Activation::Tanh, true)?;
/// let g = tangent_system(&f)?;
/// assert_eq!(g.inputs()[0].width, 4);
/// assert_eq!(g.param_len(), 2 * f.param_len());
/// # Ok::<(), IrError>(())
/// ```
pub fn tangent_system(f: &Graph) -> Result<Graph, IrError> {
    let context = "tangent_system";
    let sig = |detail: String| IrError::Signature { context, detail };
    let Some(state) = f.inputs().first() else {
        return Err(sig(
            "the vector field has no inputs (input 0 must be the state)".into(),
        ));
    };
    let d = state.width;
    match f.output_types().as_slice() {
        [Type::Batched { width }] if *width == d => {}
        types => {
            return Err(sig(format!(
                "the vector field must have one output [B,{d}] (the state's width), it has [{}]",
                types
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let wrt = Wrt {
        inputs: vec![0],
        params: (0..f.params().len() as u32).collect(),
        time: false,
    };
    let j = jvp(f, &wrt)?;
    let mut b = GraphBuilder::new();
    let z = b.input("x_and_tangent", 2 * d)?;
    let mut inputs = vec![b.slice(z, 0, d)?];
    for aux in &f.inputs()[1..] {
        inputs.push(b.input(&aux.name, aux.width)?);
    }
    // The JVP graph's last input is the state's tangent.
    inputs.push(b.slice(z, d, d)?);
    let params = b.import_params(&j)?;
    let map = b.inline(&j, &inputs, &params)?;
    let (value, tangent) = (map[j.outputs()[0].index()], map[j.outputs()[1].index()]);
    let out = b.concat(&[value, tangent])?;
    Ok(passes::simplify(&b.finish(&[out])?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Activation;

    #[test]
    fn layout_of_inputs_params_and_output() {
        let f = Graph::mlp(3, &[5, 4], Activation::Tanh, true).unwrap();
        let g = tangent_system(&f).unwrap();
        assert_eq!(g.inputs().len(), 1);
        assert_eq!(g.inputs()[0].width, 6);
        assert_eq!(g.params().len(), 2 * f.params().len());
        for (k, p) in f.params().iter().enumerate() {
            assert_eq!(g.params()[k].name, p.name);
            let t = &g.params()[f.params().len() + k];
            assert_eq!(t.name, format!("{}.tangent", p.name));
            assert_eq!(t.shape, p.shape);
        }
        assert_eq!(g.output_types(), vec![&Type::batched(6)]);
    }

    #[test]
    fn rejects_a_field_whose_output_is_not_the_state() {
        let mut b = GraphBuilder::new();
        let x = b.input("x", 2).unwrap();
        let y = b.slice(x, 0, 1).unwrap();
        let g = b.finish(&[y]).unwrap();
        let e = tangent_system(&g).unwrap_err().to_string();
        assert!(e.contains("one output [B,2]"), "{e}");
    }
}
