//! Forward mode: emits the tangent of every value of a node range, sweeping it in order and
//! writing each op's JVP with ops of the IR.

use std::ops::Range;

use super::derivative::{
    broadcast_to, sum_terms, times_derivative, ty_of, unary_derivative, zeros,
};
use crate::ir::{BinaryOp, GraphBuilder, IrError, Op, UnaryOp, Value};

/// Tangents by value number; `None` is a structural zero.
pub type Tangents = Vec<Option<Value>>;

/// Appends to `b` the forward sweep over the nodes `range` of `b`, seeded with tangents
/// `seeds` = `(value, tangent)` (same types) of values the range reads (typically leaves:
/// inputs, parameters, the time, or values built before `range`).
///
/// Returns the tangent of every value that exists when called (index = value number).
pub fn tangents(
    b: &mut GraphBuilder,
    range: Range<usize>,
    seeds: &[(Value, Value)],
) -> Result<Tangents, IrError> {
    let context = "tangents";
    if range.end > b.len() {
        return Err(IrError::Signature {
            context,
            detail: format!(
                "the node range {range:?} exceeds the {} nodes built",
                b.len()
            ),
        });
    }
    let mut tan: Tangents = vec![None; b.len()];
    for &(v, t) in seeds {
        let (tv, tt) = (ty_of(b, v)?, ty_of(b, t)?);
        if tv != tt {
            return Err(IrError::Signature {
                context,
                detail: format!("the tangent {t} {tt} of {v} must have its type {tv}"),
            });
        }
        let slot = &mut tan[v.index()];
        *slot = Some(match *slot {
            Some(a) => b.add(a, t)?,
            None => t,
        });
    }
    for k in range {
        let y = Value(k as u32);
        let op = match b.node(y) {
            Some(node) if !node.op.is_leaf() => node.op.clone(),
            _ => continue,
        };
        if op.operands().iter().any(|u| tan[u.index()].is_some()) {
            tan[k] = forward_rule(b, &tan, &op, y)?;
        }
    }
    Ok(tan)
}

/// The tangent of `y = op(…)` from its operands' tangents.
fn forward_rule(
    b: &mut GraphBuilder,
    tan: &Tangents,
    op: &Op,
    y: Value,
) -> Result<Option<Value>, IrError> {
    let t = |v: &Value| tan[v.index()];
    Ok(match op {
        Op::Input { .. } | Op::Time | Op::Param { .. } | Op::Const { .. } => None,
        Op::Dense { x, w, b: bias } => {
            let dx = t(x).map(|tx| b.dense(tx, *w, None)).transpose()?;
            let dw = match (t(w), bias.and_then(|bb| tan[bb.index()])) {
                (Some(tw), tb) => Some(b.dense(*x, tw, tb)?),
                (None, Some(tb)) => Some(b.broadcast_rows(tb)?),
                (None, None) => None,
            };
            sum_terms(b, [dx, dw])?
        }
        Op::DenseNT { x, w } => {
            let dx = t(x).map(|tx| b.dense_nt(tx, *w)).transpose()?;
            let dw = t(w).map(|tw| b.dense_nt(*x, tw)).transpose()?;
            sum_terms(b, [dx, dw])?
        }
        Op::BatchOuter { a, b: rhs } => {
            let da = t(a).map(|ta| b.batch_outer(ta, *rhs)).transpose()?;
            let db = t(rhs).map(|tb| b.batch_outer(*a, tb)).transpose()?;
            sum_terms(b, [da, db])?
        }
        Op::BatchSum { x } => t(x).map(|tx| b.batch_sum(tx)).transpose()?,
        Op::BroadcastRows { x } => t(x).map(|tx| b.broadcast_rows(tx)).transpose()?,
        Op::Unary { op, x } => match t(x) {
            Some(tx) => {
                let d = unary_derivative(b, *op, *x, y)?;
                times_derivative(b, tx, d)?
            }
            None => None,
        },
        Op::Binary { op, a, b: rhs } => binary_rule(b, *op, (*a, t(a)), (*rhs, t(rhs)), y)?,
        Op::Scale { x, c } => t(x).map(|tx| b.scale(tx, *c)).transpose()?,
        Op::Concat { parts } => {
            let mut pieces = Vec::with_capacity(parts.len());
            for p in parts {
                pieces.push(match t(p) {
                    Some(tp) => tp,
                    None => {
                        let w = ty_of(b, *p)?.width().unwrap_or(0);
                        zeros(b, w)?
                    }
                });
            }
            Some(b.concat(&pieces)?)
        }
        Op::Slice { x, start, len } => t(x).map(|tx| b.slice(tx, *start, *len)).transpose()?,
        Op::SumGroups { x, size } => t(x).map(|tx| b.sum_groups(tx, *size)).transpose()?,
        Op::RepeatGroups { x, size } => t(x).map(|tx| b.repeat_groups(tx, *size)).transpose()?,
        Op::Stencil {
            x,
            coeffs,
            n,
            channels,
        } => t(x)
            .map(|tx| {
                b.push(Op::Stencil {
                    x: tx,
                    coeffs: coeffs.clone(),
                    n: *n,
                    channels: *channels,
                })
            })
            .transpose()?,
        Op::Conv1d {
            x,
            w,
            b: bias,
            shape,
        } => {
            let shape = *shape;
            let dx = t(x)
                .map(|tx| {
                    b.push(Op::Conv1d {
                        x: tx,
                        w: *w,
                        b: None,
                        shape,
                    })
                })
                .transpose()?;
            let dw = match (t(w), bias.and_then(|bb| tan[bb.index()])) {
                (Some(tw), tb) => Some(b.push(Op::Conv1d {
                    x: *x,
                    w: tw,
                    b: tb,
                    shape,
                })?),
                (None, Some(tb)) => {
                    let rows = b.broadcast_rows(tb)?;
                    Some(b.repeat_groups(rows, shape.n)?)
                }
                (None, None) => None,
            };
            sum_terms(b, [dx, dw])?
        }
        Op::Conv1dT { y: ys, w, shape } => {
            let shape = *shape;
            let dy = t(ys)
                .map(|ty| {
                    b.push(Op::Conv1dT {
                        y: ty,
                        w: *w,
                        shape,
                    })
                })
                .transpose()?;
            let dw = t(w)
                .map(|tw| {
                    b.push(Op::Conv1dT {
                        y: *ys,
                        w: tw,
                        shape,
                    })
                })
                .transpose()?;
            sum_terms(b, [dy, dw])?
        }
        Op::Conv1dWeightGrad { dy, x, shape } => {
            let shape = *shape;
            let ddy = t(dy)
                .map(|td| {
                    b.push(Op::Conv1dWeightGrad {
                        dy: td,
                        x: *x,
                        shape,
                    })
                })
                .transpose()?;
            let dx = t(x)
                .map(|tx| {
                    b.push(Op::Conv1dWeightGrad {
                        dy: *dy,
                        x: tx,
                        shape,
                    })
                })
                .transpose()?;
            sum_terms(b, [ddy, dx])?
        }
        Op::Conv2d {
            x,
            w,
            b: bias,
            shape,
        } => {
            let shape = *shape;
            let dx = t(x).map(|tx| b.conv2d(tx, *w, None, shape)).transpose()?;
            let dw = match (t(w), bias.and_then(|bb| tan[bb.index()])) {
                (Some(tw), tb) => Some(b.conv2d(*x, tw, tb, shape)?),
                (None, Some(tb)) => {
                    let rows = b.broadcast_rows(tb)?;
                    Some(b.repeat_groups(rows, shape.out_h() * shape.out_w())?)
                }
                (None, None) => None,
            };
            sum_terms(b, [dx, dw])?
        }
        Op::Conv2dT { y: ys, w, shape } => {
            let shape = *shape;
            let dy = t(ys).map(|ty| b.conv2d_t(ty, *w, shape)).transpose()?;
            let dw = t(w).map(|tw| b.conv2d_t(*ys, tw, shape)).transpose()?;
            sum_terms(b, [dy, dw])?
        }
        Op::Conv2dWeightGrad { dy, x, shape } => {
            let shape = *shape;
            let ddy = t(dy)
                .map(|td| b.conv2d_weight_grad(td, *x, shape))
                .transpose()?;
            let dx = t(x)
                .map(|tx| b.conv2d_weight_grad(*dy, tx, shape))
                .transpose()?;
            sum_terms(b, [ddy, dx])?
        }
        Op::Squeeze { x, shape } => t(x).map(|tx| b.squeeze(tx, *shape)).transpose()?,
        Op::Unsqueeze { x, shape } => t(x).map(|tx| b.unsqueeze(tx, *shape)).transpose()?,
    })
}

/// Tangent of `y = a ⊕ b` (with broadcasting of a `[B,1]` operand).
fn binary_rule(
    b: &mut GraphBuilder,
    op: BinaryOp,
    (a, ta): (Value, Option<Value>),
    (rhs, tb): (Value, Option<Value>),
    y: Value,
) -> Result<Option<Value>, IrError> {
    let r = match (op, ta, tb) {
        (_, None, None) => return Ok(None),
        (BinaryOp::Add, Some(ta), Some(tb)) => b.add(ta, tb)?,
        (BinaryOp::Sub, Some(ta), Some(tb)) => b.sub(ta, tb)?,
        (BinaryOp::Add | BinaryOp::Sub, Some(ta), None) => broadcast_to(b, ta, y)?,
        (BinaryOp::Add, None, Some(tb)) => broadcast_to(b, tb, y)?,
        (BinaryOp::Sub, None, Some(tb)) => {
            let n = b.unary(UnaryOp::Neg, tb)?;
            broadcast_to(b, n, y)?
        }
        (BinaryOp::Mul, ta, tb) => {
            let da = ta.map(|ta| b.mul(ta, rhs)).transpose()?;
            let db = tb.map(|tb| b.mul(a, tb)).transpose()?;
            match sum_terms(b, [da, db])? {
                Some(v) => v,
                None => return Ok(None),
            }
        }
        // (ȧ − y ḃ) / b
        (BinaryOp::Div, ta, tb) => {
            let num = match (ta, tb) {
                (Some(ta), Some(tb)) => {
                    let ytb = b.mul(y, tb)?;
                    b.sub(ta, ytb)?
                }
                (Some(ta), None) => ta,
                (None, Some(tb)) => {
                    let ytb = b.mul(y, tb)?;
                    b.unary(UnaryOp::Neg, ytb)?
                }
                (None, None) => return Ok(None),
            };
            b.div(num, rhs)?
        }
    };
    debug_assert_eq!(ty_of(b, r).ok(), ty_of(b, y).ok());
    Ok(Some(r))
}
