//! Whole-graph transformations: [`vjp`] and [`jvp`].

use super::forward::tangents;
use super::reverse::{adjoint_or_zero, adjoints};
use crate::ir::{Graph, GraphBuilder, IrError, Type, Value, passes};

/// What to differentiate with respect to (for [`vjp`]) or to push tangents along (for
/// [`jvp`]): batched inputs by index, parameters by index, and optionally the time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wrt {
    /// Input indices.
    pub inputs: Vec<u32>,
    /// Parameter indices.
    pub params: Vec<u32>,
    /// The time `t` (`[B,1]`).
    pub time: bool,
}

impl Wrt {
    /// The state only (input 0).
    pub fn state() -> Wrt {
        Wrt {
            inputs: vec![0],
            ..Wrt::default()
        }
    }

    /// The state (input 0) and every parameter of `g`: what a neural ODE's adjoint needs.
    pub fn state_and_params(g: &Graph) -> Wrt {
        Wrt {
            inputs: vec![0],
            params: (0..g.params().len() as u32).collect(),
            time: false,
        }
    }

    /// Every input, every parameter and the time.
    pub fn all(g: &Graph) -> Wrt {
        Wrt {
            inputs: (0..g.inputs().len() as u32).collect(),
            params: (0..g.params().len() as u32).collect(),
            time: true,
        }
    }

    fn check(&self, g: &Graph, context: &'static str) -> Result<(), IrError> {
        let no_such = |what, index, declared| IrError::NoSuch {
            context,
            what,
            index,
            declared,
        };
        if let Some(&i) = self
            .inputs
            .iter()
            .find(|&&i| i as usize >= g.inputs().len())
        {
            return Err(no_such("input", i, g.inputs().len()));
        }
        if let Some(&j) = self
            .params
            .iter()
            .find(|&&j| j as usize >= g.params().len())
        {
            return Err(no_such("parameter", j, g.params().len()));
        }
        Ok(())
    }
}

/// A name not yet used by a parameter of `b`: `base`, else `base.2`, `base.3`, …
fn fresh_param_name(b: &GraphBuilder, base: &str) -> String {
    fresh(base, |name| b.params().iter().any(|p| p.name == name))
}

/// A name not yet used by an input of `b`: `base`, else `base.2`, `base.3`, …
fn fresh_input_name(b: &GraphBuilder, base: &str) -> String {
    fresh(base, |name| b.inputs().iter().any(|p| p.name == name))
}

fn fresh(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_owned();
    }
    (2..)
        .map(|k| format!("{base}.{k}"))
        .find(|name| !taken(name))
        .unwrap_or_default()
}

/// The parts of [`copy_of`]: builder, input nodes, parameter nodes, node map.
type Copy = (GraphBuilder, Vec<Value>, Vec<Value>, Vec<Value>);

/// A builder with `g`'s inputs and parameters declared and `g` inlined. Returns the
/// builder, the input and parameter nodes, and the new value of every node of `g`.
fn copy_of(g: &Graph) -> Result<Copy, IrError> {
    let mut b = GraphBuilder::new();
    let inputs = g
        .inputs()
        .iter()
        .map(|d| b.input(&d.name, d.width))
        .collect::<Result<Vec<_>, _>>()?;
    let params = b.import_params(g)?;
    let map = b.inline(g, &inputs, &params)?;
    Ok((b, inputs, params, map))
}

/// Reverse mode: the graph of `(outputs, ūᵀ ∂outputs/∂wrt)`.
///
/// The result reads:
/// - inputs: `g`'s inputs, then one cotangent input `cotangent.{k}` `[B,w]` per batched
///   output `k`, in output order (names made unique by a suffix `.2`, `.3`, … if taken);
/// - parameters: `g`'s parameters, then one cotangent parameter `cotangent.{k}` per global
///   output `k` (its shape), so that a VJP of a VJP is complete.
///
/// and outputs, in order: `g`'s outputs; the cotangent of each input in `wrt.inputs`
/// (`[B,w]`); the cotangent of the time if `wrt.time` (`[B,1]`, per sample); the gradient of
/// each parameter in `wrt.params` (its shape, summed over the batch). Structural zeros are
/// constants. The result is cleaned by [`passes::simplify`].
pub fn vjp(g: &Graph, wrt: &Wrt) -> Result<Graph, IrError> {
    wrt.check(g, "vjp")?;
    let (mut b, inputs, params, map) = copy_of(g)?;
    let end = b.len();
    let mut seeds = Vec::with_capacity(g.outputs().len());
    for (k, (out, ty)) in g.outputs().iter().zip(g.output_types()).enumerate() {
        let ct = match ty {
            Type::Batched { width } => {
                let name = fresh_input_name(&b, &format!("cotangent.{k}"));
                b.input(&name, *width)?
            }
            Type::Global { shape } => {
                let name = fresh_param_name(&b, &format!("cotangent.{k}"));
                b.param(&name, shape)?
            }
        };
        seeds.push((map[out.index()], ct));
    }
    let adj = adjoints(&mut b, 0..end, &seeds)?;
    let mut outputs: Vec<Value> = g.outputs().iter().map(|v| map[v.index()]).collect();
    for &i in &wrt.inputs {
        outputs.push(adjoint_or_zero(&mut b, &adj, inputs[i as usize])?);
    }
    if wrt.time {
        let t = b.time()?;
        outputs.push(adjoint_or_zero(&mut b, &adj, t)?);
    }
    for &j in &wrt.params {
        outputs.push(adjoint_or_zero(&mut b, &adj, params[j as usize])?);
    }
    Ok(passes::simplify(&b.finish(&outputs)?))
}

/// Forward mode: the graph of `(outputs, ∂outputs/∂wrt · tangents)`.
///
/// The result reads:
/// - inputs: `g`'s inputs, then one tangent input `tangent.{name}` per input in
///   `wrt.inputs` (same width), then `tangent.t` `[B,1]` if `wrt.time`;
/// - parameters: `g`'s parameters, then one tangent parameter `{name}.tangent` per
///   parameter in `wrt.params` (same shape);
///
/// and outputs `g`'s outputs followed by their tangents, in order (structural zeros are
/// constants). The result is cleaned by [`passes::simplify`].
pub fn jvp(g: &Graph, wrt: &Wrt) -> Result<Graph, IrError> {
    wrt.check(g, "jvp")?;
    let (mut b, inputs, params, map) = copy_of(g)?;
    let end = b.len();
    let mut seeds = Vec::new();
    for &i in &wrt.inputs {
        let d = &g.inputs()[i as usize];
        let name = fresh_input_name(&b, &format!("tangent.{}", d.name));
        let t = b.input(&name, d.width)?;
        seeds.push((inputs[i as usize], t));
    }
    if wrt.time {
        let name = fresh_input_name(&b, "tangent.t");
        let t = b.input(&name, 1)?;
        let time = b.time()?;
        seeds.push((time, t));
    }
    for &j in &wrt.params {
        let d = &g.params()[j as usize];
        let name = fresh_param_name(&b, &format!("{}.tangent", d.name));
        let t = b.param(&name, &d.shape)?;
        seeds.push((params[j as usize], t));
    }
    let tan = tangents(&mut b, 0..end, &seeds)?;
    let mut outputs: Vec<Value> = g.outputs().iter().map(|v| map[v.index()]).collect();
    for out in g.outputs() {
        let v = map[out.index()];
        outputs.push(match tan.get(v.index()).copied().flatten() {
            Some(t) => t,
            None => b.constant_like(v, 0.0)?,
        });
    }
    Ok(passes::simplify(&b.finish(&outputs)?))
}
