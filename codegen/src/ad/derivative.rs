//! Local derivatives shared by both modes: elementwise derivatives of the unary ops,
//! broadcasting reductions and zeros.

use crate::ir::{GraphBuilder, IrError, Op, Type, UnaryOp, Value};

/// The derivative `f'(x)` of a unary op at a node.
pub(crate) enum Deriv {
    /// Zero everywhere (`step`).
    Zero,
    /// A constant factor (`neg`: −1).
    Const(f64),
    /// A value of the node's type.
    Value(Value),
}

/// A constant `value` that broadcasts against `v`: `[B,1]` for a batched `v`, `v`'s shape
/// for a global one.
fn scalar_like(b: &mut GraphBuilder, v: Value, value: f64) -> Result<Value, IrError> {
    let ty = match ty_of(b, v)? {
        Type::Batched { .. } => Type::batched(1),
        global => global,
    };
    b.constant(value, ty)
}

/// The type of `v` (which the caller built, so it exists).
pub(crate) fn ty_of(b: &GraphBuilder, v: Value) -> Result<Type, IrError> {
    b.ty(v).cloned().ok_or(IrError::UndefinedValue {
        node: Value(b.len() as u32),
        op: "ad",
        operand: v,
        len: b.len(),
    })
}

/// `f'(x)` for `y = op(x)`, written with ops of the IR.
pub(crate) fn unary_derivative(
    b: &mut GraphBuilder,
    op: UnaryOp,
    x: Value,
    y: Value,
) -> Result<Deriv, IrError> {
    use UnaryOp as U;
    let d = match op {
        U::Step => return Ok(Deriv::Zero),
        U::Neg => return Ok(Deriv::Const(-1.0)),
        // 1 − y²
        U::Tanh => {
            let one = scalar_like(b, y, 1.0)?;
            let y2 = b.unary(U::Square, y)?;
            b.sub(one, y2)?
        }
        U::Softplus => b.unary(U::Sigmoid, x)?,
        // y (1 − y)
        U::Sigmoid => {
            let one = scalar_like(b, y, 1.0)?;
            let c = b.sub(one, y)?;
            b.mul(y, c)?
        }
        U::Relu => b.unary(U::Step, x)?,
        // elu(x) − relu(x) + 1: 1 for x > 0, eˣ otherwise.
        U::Elu => {
            let r = b.unary(U::Relu, x)?;
            let d = b.sub(y, r)?;
            let one = scalar_like(b, y, 1.0)?;
            b.add(d, one)?
        }
        // s + y (1 − s), s = sigmoid(x): s (1 + x (1 − s)).
        U::Silu => {
            let s = b.unary(U::Sigmoid, x)?;
            let one = scalar_like(b, y, 1.0)?;
            let c = b.sub(one, s)?;
            let yc = b.mul(y, c)?;
            b.add(s, yc)?
        }
        U::Sin => b.unary(U::Cos, x)?,
        U::Cos => {
            let s = b.unary(U::Sin, x)?;
            b.unary(U::Neg, s)?
        }
        U::Square => b.scale(x, 2.0)?,
        U::Exp => y,
        U::Log => b.unary(U::Recip, x)?,
        // −y²
        U::Recip => {
            let y2 = b.unary(U::Square, y)?;
            b.unary(U::Neg, y2)?
        }
    };
    Ok(Deriv::Value(d))
}

/// `g · f'`: the tangent or cotangent through a unary op, `None` when `f' = 0`.
pub(crate) fn times_derivative(
    b: &mut GraphBuilder,
    g: Value,
    d: Deriv,
) -> Result<Option<Value>, IrError> {
    Ok(match d {
        Deriv::Zero => None,
        Deriv::Const(c) => Some(b.scale(g, c)?),
        Deriv::Value(d) => Some(b.mul(g, d)?),
    })
}

/// Zeros `[B, width]`.
pub(crate) fn zeros(b: &mut GraphBuilder, width: usize) -> Result<Value, IrError> {
    b.constant(0.0, Type::batched(width))
}

/// Brings a cotangent `g` of a broadcast result back to the operand's type: the sum over
/// features when the operand is `[B,1]` and `g` is wider.
pub(crate) fn unbroadcast(
    b: &mut GraphBuilder,
    operand: Value,
    g: Value,
) -> Result<Value, IrError> {
    match (ty_of(b, operand)?, ty_of(b, g)?) {
        (Type::Batched { width: 1 }, Type::Batched { width }) if width > 1 => {
            b.sum_groups(g, width)
        }
        _ => Ok(g),
    }
}

/// Widens a tangent `t` of a `[B,1]` operand to the `[B,width]` of a broadcast result.
pub(crate) fn broadcast_to(
    b: &mut GraphBuilder,
    t: Value,
    result: Value,
) -> Result<Value, IrError> {
    match (ty_of(b, t)?, ty_of(b, result)?) {
        (Type::Batched { width: 1 }, Type::Batched { width }) if width > 1 => {
            b.repeat_groups(t, width)
        }
        _ => Ok(t),
    }
}

/// Sums optional terms; `None` when all are `None`.
pub(crate) fn sum_terms(
    b: &mut GraphBuilder,
    terms: impl IntoIterator<Item = Option<Value>>,
) -> Result<Option<Value>, IrError> {
    let mut acc: Option<Value> = None;
    for t in terms.into_iter().flatten() {
        acc = Some(match acc {
            Some(a) => b.add(a, t)?,
            None => t,
        });
    }
    Ok(acc)
}

/// True when a derivative may flow into `v` (constants have none).
pub(crate) fn differentiable(b: &GraphBuilder, v: Value) -> bool {
    !matches!(b.node(v).map(|n| &n.op), Some(Op::Const { .. }) | None)
}
