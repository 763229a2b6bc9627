//! Fusion of a dense layer that reads `[x, t]` (`concat(x, time) → dense`, how the DSL and
//! `Graph::mlp` write a time input): the concatenation is never materialised, and the layer
//! runs the runtime's time-folded kernels, the arithmetic of the hand-written `Mlp`:
//!
//! - `dense(concat(x, t), W, b)` → [`Kernel::DenseTime`] of `(x, W, b)` (`b + t·W[:, k]`
//!   folded into the bias);
//! - `batch_outer(a, concat(x, t))` (its weight gradient) → [`Kernel::BatchOuterTime`] of
//!   `(a, x)` (the time column `t·Σ a`, the column sums formed first);
//! - `slice(dense_nt(a, W), 0, k)` (its input gradient, the time column dropped) →
//!   [`Kernel::DenseNTCols`] of `(a, W)` when nothing else reads the full product.

use crate::ir::{Graph, Op, Value};

use super::fuse::Fused;
use super::{Kernel, Slot};

/// `Some(x)` when `v` is `concat(x, time)` with a batched `x`.
fn time_concat(g: &Graph, v: Value) -> Option<Value> {
    let nodes = g.nodes();
    let Op::Concat { parts } = &nodes[v.index()].op else {
        return None;
    };
    match parts.as_slice() {
        [x, t] if matches!(nodes[t.index()].op, Op::Time) && nodes[x.index()].ty.is_batched() => {
            Some(*x)
        }
        _ => None,
    }
}

fn width(g: &Graph, v: Value) -> usize {
    g.nodes()[v.index()].ty.width().unwrap_or(0)
}

/// Marks the fusable nodes among the needed ones (see the [module documentation](self)).
pub(super) fn fuse_dense_time(
    g: &Graph,
    slot: &[Option<Slot>],
    needed: &[bool],
    readers: &[usize],
    fused: &mut [Option<Fused>],
) {
    let nodes = g.nodes();
    for k in (0..nodes.len()).filter(|&k| needed[k] && slot[k].is_none()) {
        let v = Value(k as u32);
        fused[k] = match nodes[k].op {
            Op::Dense { x, w, b: Some(b) } => time_concat(g, x).map(|h| Fused {
                kernel: Kernel::DenseTime {
                    k: width(g, h),
                    out: width(g, v),
                },
                operands: vec![h, w, b],
                in_place: false,
            }),
            Op::BatchOuter { a, b } => time_concat(g, b).map(|h| Fused {
                kernel: Kernel::BatchOuterTime {
                    p: width(g, a),
                    k: width(g, h),
                    acc: false,
                },
                operands: vec![a, h],
                in_place: false,
            }),
            Op::Slice {
                x: d,
                start: 0,
                len,
            } => match nodes[d.index()].op {
                Op::DenseNT { x: a, w }
                    if readers[d.index()] == 1
                        && slot[d.index()].is_none()
                        && len + 1 == width(g, d) =>
                {
                    Some(Fused {
                        kernel: Kernel::DenseNTCols {
                            k: width(g, a),
                            m: width(g, d),
                            cols: len,
                        },
                        operands: vec![a, w],
                        in_place: false,
                    })
                }
                _ => None,
            },
            _ => None,
        };
    }
}
