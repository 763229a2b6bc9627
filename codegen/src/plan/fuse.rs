//! Peephole fusion before buffer assignment: the `tanh` derivative `g · (1 − y²)`, which
//! [`ad::vjp`](crate::ad::vjp) writes as three elementwise nodes, becomes one
//! pass when nothing else reads the intermediate values; dense layers reading `[x, t]` are
//! fused by [`super::dense_time`].

use crate::ir::{BinaryOp, Graph, Op, Type, UnaryOp, Value};

use super::{Kernel, PlanSpec, Slot};

/// A node computed by another kernel than its op's, from other operands.
#[derive(Clone, Debug)]
pub(super) struct Fused {
    /// The kernel that computes it.
    pub kernel: Kernel,
    /// Its operands, in the kernel's order.
    pub operands: Vec<Value>,
    /// Whether it may run in place on an operand that dies there (elementwise kernels).
    pub in_place: bool,
}

/// How many needed nodes (and outputs, reserved values) read each value.
pub(super) fn readers(
    spec: &PlanSpec<'_>,
    g: &Graph,
    slot: &[Option<Slot>],
    needed: &[bool],
) -> Vec<usize> {
    let nodes = g.nodes();
    let mut readers = vec![0usize; nodes.len()];
    for k in (0..nodes.len()).filter(|&k| needed[k] && slot[k].is_none()) {
        for u in nodes[k].op.operands() {
            readers[u.index()] += 1;
        }
    }
    for &(v, _) in &spec.outputs {
        readers[v.index()] += 1;
    }
    for &v in spec.reserve {
        readers[v.index()] += 1;
    }
    readers
}

/// The nodes the outputs and reserved values need, stopping at loaded values.
pub(super) fn closure(
    spec: &PlanSpec<'_>,
    slot: &[Option<Slot>],
    n: usize,
    operands: impl Fn(usize) -> Vec<Value>,
) -> Vec<bool> {
    let mut needed = vec![false; n];
    for &(v, _) in &spec.outputs {
        needed[v.index()] = true;
    }
    for &v in spec.reserve {
        needed[v.index()] = true;
    }
    for k in (0..n).rev() {
        if needed[k] && slot[k].is_none() {
            for u in operands(k) {
                needed[u.index()] = true;
            }
        }
    }
    needed
}

/// Products `g · (1 − y²)` (how `ad::vjp` writes the derivative of `tanh`) whose
/// intermediate values nothing else reads become [`Kernel::TanhGrad`] of `(g, y)`, computed
/// in one pass (the same expression, so the same rounding, as the runtime `Mlp`).
pub(super) fn fuse_tanh_grads(
    g: &Graph,
    slot: &[Option<Slot>],
    needed: &[bool],
    readers: &[usize],
    fused: &mut [Option<Fused>],
) {
    let nodes = g.nodes();
    let n = nodes.len();
    let private = |v: Value| readers[v.index()] == 1 && slot[v.index()].is_none();
    let same = |a: Value, b: Value| nodes[a.index()].ty == nodes[b.index()].ty;
    // `d = 1 − y²` with private intermediates: `Some(y)`.
    let tanh_deriv = |d: Value| -> Option<Value> {
        let Op::Binary {
            op: BinaryOp::Sub,
            a: one,
            b: sq,
        } = nodes[d.index()].op
        else {
            return None;
        };
        let is_one = matches!(
            &nodes[one.index()].op,
            Op::Const { value, ty: Type::Batched { width: 1 } } if *value == 1.0
        );
        let Op::Unary {
            op: UnaryOp::Square,
            x: y,
        } = nodes[sq.index()].op
        else {
            return None;
        };
        (is_one && private(d) && private(sq) && same(d, y) && same(sq, y)).then_some(y)
    };
    for k in 0..n {
        if !needed[k] || slot[k].is_some() || fused[k].is_some() {
            continue;
        }
        if let Op::Binary {
            op: BinaryOp::Mul,
            a,
            b,
        } = nodes[k].op
        {
            let v = Value(k as u32);
            for (d, gv) in [(b, a), (a, b)] {
                if let Some(y) = tanh_deriv(d)
                    && same(gv, v)
                    && same(d, v)
                    && d != gv
                {
                    fused[k] = Some(Fused {
                        kernel: Kernel::TanhGrad,
                        operands: vec![gv, y],
                        in_place: true,
                    });
                    break;
                }
            }
        }
    }
}
