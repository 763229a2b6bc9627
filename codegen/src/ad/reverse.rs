//! Reverse mode: emits the adjoint (cotangent) of every value of a node range, sweeping
//! the range backwards and writing each op's VJP with ops of the IR.

use std::ops::Range;

use super::derivative::{
    differentiable, times_derivative, ty_of, unary_derivative, unbroadcast, zeros,
};
use crate::ir::{BinaryOp, GraphBuilder, IrError, Op, Type, UnaryOp, Value};

/// Adjoints by value number; `None` is a structural zero.
pub type Adjoints = Vec<Option<Value>>;

/// Appends to `b` the reverse sweep over the nodes `range` of `b`, seeded with cotangents
/// `seeds` = `(value, cotangent)` (same types; repeated values accumulate).
///
/// Returns the adjoint of every value that exists when called (index = value number):
/// the nodes in `range` and the values they read from before `range` (where the sweep
/// stops). The primal values are read where they are: the VJP reads the forward values
/// of the range (`x` for a weight gradient, `y` or `x` for an activation's derivative).
pub fn adjoints(
    b: &mut GraphBuilder,
    range: Range<usize>,
    seeds: &[(Value, Value)],
) -> Result<Adjoints, IrError> {
    let context = "adjoints";
    if range.end > b.len() {
        return Err(IrError::Signature {
            context,
            detail: format!(
                "the node range {range:?} exceeds the {} nodes built",
                b.len()
            ),
        });
    }
    let mut adj: Adjoints = vec![None; b.len()];
    for &(v, c) in seeds {
        let (tv, tc) = (ty_of(b, v)?, ty_of(b, c)?);
        if tv != tc {
            return Err(IrError::Signature {
                context,
                detail: format!("the cotangent {c} {tc} of {v} must have its type {tv}"),
            });
        }
        accumulate(b, &mut adj, v, c)?;
    }
    for k in range.rev() {
        let Some(g) = adj[k] else { continue };
        let op = match b.node(Value(k as u32)) {
            Some(node) => node.op.clone(),
            None => continue,
        };
        reverse_rule(b, &mut adj, &op, Value(k as u32), g)?;
    }
    Ok(adj)
}

/// `adj[u] += g`.
fn accumulate(b: &mut GraphBuilder, adj: &mut Adjoints, u: Value, g: Value) -> Result<(), IrError> {
    let slot = &mut adj[u.index()];
    *slot = Some(match *slot {
        Some(a) => b.add(a, g)?,
        None => g,
    });
    Ok(())
}

/// Accumulates the VJP of node `y = op(…)` with cotangent `g` into its operands.
fn reverse_rule(
    b: &mut GraphBuilder,
    adj: &mut Adjoints,
    op: &Op,
    y: Value,
    g: Value,
) -> Result<(), IrError> {
    // Emits `contribution` only when `u` takes a derivative.
    macro_rules! acc {
        ($u:expr, $contribution:expr) => {{
            let u: Value = $u;
            if differentiable(b, u) {
                let c = $contribution;
                accumulate(b, adj, u, c)?;
            }
        }};
    }
    match op {
        Op::Input { .. } | Op::Time | Op::Param { .. } | Op::Const { .. } => {}
        Op::Dense { x, w, b: bias } => {
            acc!(*x, b.dense_nt(g, *w)?);
            acc!(*w, b.batch_outer(g, *x)?);
            if let Some(bias) = bias {
                acc!(*bias, b.batch_sum(g)?);
            }
        }
        Op::DenseNT { x, w } => {
            acc!(*x, b.dense(g, *w, None)?);
            acc!(*w, b.batch_outer(*x, g)?);
        }
        Op::BatchOuter { a, b: rhs } => {
            acc!(*a, b.dense(*rhs, g, None)?);
            acc!(*rhs, b.dense_nt(*a, g)?);
        }
        Op::BatchSum { x } => acc!(*x, b.broadcast_rows(g)?),
        Op::BroadcastRows { x } => acc!(*x, b.batch_sum(g)?),
        Op::Unary { op, x } => {
            if differentiable(b, *x) {
                let d = unary_derivative(b, *op, *x, y)?;
                if let Some(c) = times_derivative(b, g, d)? {
                    accumulate(b, adj, *x, c)?;
                }
            }
        }
        Op::Binary { op, a, b: rhs } => {
            let (a, rhs) = (*a, *rhs);
            match op {
                BinaryOp::Add => {
                    acc!(a, unbroadcast(b, a, g)?);
                    acc!(rhs, unbroadcast(b, rhs, g)?);
                }
                BinaryOp::Sub => {
                    acc!(a, unbroadcast(b, a, g)?);
                    acc!(rhs, {
                        let n = b.unary(UnaryOp::Neg, g)?;
                        unbroadcast(b, rhs, n)?
                    });
                }
                BinaryOp::Mul => {
                    acc!(a, {
                        let p = b.mul(g, rhs)?;
                        unbroadcast(b, a, p)?
                    });
                    acc!(rhs, {
                        let p = b.mul(g, a)?;
                        unbroadcast(b, rhs, p)?
                    });
                }
                // y = a / b: ā = g / b, b̄ = −g y / b.
                BinaryOp::Div => {
                    acc!(a, {
                        let q = b.div(g, rhs)?;
                        unbroadcast(b, a, q)?
                    });
                    acc!(rhs, {
                        let gy = b.mul(g, y)?;
                        let q = b.div(gy, rhs)?;
                        let n = b.unary(UnaryOp::Neg, q)?;
                        unbroadcast(b, rhs, n)?
                    });
                }
            }
        }
        Op::Scale { x, c } => acc!(*x, b.scale(g, *c)?),
        Op::Concat { parts } => {
            let mut off = 0;
            for &p in parts {
                let w = ty_of(b, p)?.width().unwrap_or(0);
                acc!(p, b.slice(g, off, w)?);
                off += w;
            }
        }
        Op::Slice { x, start, len } => {
            let w = ty_of(b, *x)?.width().unwrap_or(0);
            acc!(*x, {
                let mut pieces = Vec::with_capacity(3);
                if *start > 0 {
                    pieces.push(zeros(b, *start)?);
                }
                pieces.push(g);
                if start + len < w {
                    pieces.push(zeros(b, w - start - len)?);
                }
                if pieces.len() == 1 {
                    g
                } else {
                    b.concat(&pieces)?
                }
            });
        }
        Op::SumGroups { x, size } => acc!(*x, b.repeat_groups(g, *size)?),
        Op::RepeatGroups { x, size } => acc!(*x, b.sum_groups(g, *size)?),
        Op::Stencil {
            x,
            coeffs,
            n,
            channels,
        } => acc!(
            *x,
            b.push(Op::Stencil {
                x: g,
                coeffs: coeffs.iter().rev().copied().collect(),
                n: *n,
                channels: *channels,
            })?
        ),
        Op::Conv1d {
            x,
            w,
            b: bias,
            shape,
        } => {
            let shape = *shape;
            acc!(*x, b.push(Op::Conv1dT { y: g, w: *w, shape })?);
            acc!(
                *w,
                b.push(Op::Conv1dWeightGrad {
                    dy: g,
                    x: *x,
                    shape
                })?
            );
            if let Some(bias) = bias {
                acc!(*bias, {
                    let s = b.sum_groups(g, shape.n)?;
                    b.batch_sum(s)?
                });
            }
        }
        Op::Conv1dT { y: ys, w, shape } => {
            let shape = *shape;
            acc!(
                *ys,
                b.push(Op::Conv1d {
                    x: g,
                    w: *w,
                    b: None,
                    shape
                })?
            );
            acc!(
                *w,
                b.push(Op::Conv1dWeightGrad {
                    dy: *ys,
                    x: g,
                    shape
                })?
            );
        }
        Op::Conv1dWeightGrad { dy, x, shape } => {
            let shape = *shape;
            acc!(
                *dy,
                b.push(Op::Conv1d {
                    x: *x,
                    w: g,
                    b: None,
                    shape
                })?
            );
            acc!(
                *x,
                b.push(Op::Conv1dT {
                    y: *dy,
                    w: g,
                    shape
                })?
            );
        }
        Op::Conv2d {
            x,
            w,
            b: bias,
            shape,
        } => {
            let shape = *shape;
            acc!(*x, b.conv2d_t(g, *w, shape)?);
            acc!(*w, b.conv2d_weight_grad(g, *x, shape)?);
            if let Some(bias) = bias {
                acc!(*bias, {
                    let s = b.sum_groups(g, shape.out_h() * shape.out_w())?;
                    b.batch_sum(s)?
                });
            }
        }
        Op::Conv2dT { y: ys, w, shape } => {
            let shape = *shape;
            acc!(*ys, b.conv2d(g, *w, None, shape)?);
            acc!(*w, b.conv2d_weight_grad(*ys, g, shape)?);
        }
        Op::Conv2dWeightGrad { dy, x, shape } => {
            let shape = *shape;
            acc!(*dy, b.conv2d(*x, g, None, shape)?);
            acc!(*x, b.conv2d_t(*dy, g, shape)?);
        }
        Op::Squeeze { x, shape } => acc!(*x, b.unsqueeze(g, *shape)?),
        Op::Unsqueeze { x, shape } => acc!(*x, b.squeeze(g, *shape)?),
    }
    Ok(())
}

/// The adjoint of `v`, or zeros of its type when it is a structural zero.
pub fn adjoint_or_zero(b: &mut GraphBuilder, adj: &Adjoints, v: Value) -> Result<Value, IrError> {
    match adj.get(v.index()).copied().flatten() {
        Some(a) => Ok(a),
        None => {
            let ty: Type = ty_of(b, v)?;
            b.constant(0.0, ty)
        }
    }
}
