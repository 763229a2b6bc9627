//! Splitting a graph into a forward pass and a backward pass: which values a tape must keep.

use super::entities::Value;
use super::graph::Graph;
use super::ops::{BinaryOp, Op, UnaryOp};
use super::passes::dce;

/// A split of a graph into the nodes that do not depend on some *late* inputs (the forward
/// pass) and those that do (the backward pass), with the values handed from one to the other.
///
/// For a VJP graph ([`crate::ad::vjp`]) with the cotangent inputs as late inputs: the
/// forward pass computes the original outputs and the tape from `(x, t, θ)`, the backward
/// pass computes the gradients from the tape, the cotangents and the leaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// `dependent[k]`: node `k` depends on a late input.
    pub dependent: Vec<bool>,
    /// Nodes the forward pass runs, in order: those the independent outputs and the tape
    /// need.
    pub forward: Vec<Value>,
    /// Nodes the backward pass runs, in order: every dependent node the outputs need, the
    /// leaves (inputs, parameters, time, constants) they read, and the recomputed cheap
    /// nodes.
    pub backward: Vec<Value>,
    /// Values computed by the forward pass and read by the backward pass (never leaves).
    pub tape: Vec<Value>,
}

/// Splits `g` at the inputs `late` (indices into [`Graph::inputs`]).
///
/// With `recompute_cheap`, an independent [cheap](Op::is_cheap) node read by the backward
/// pass (arithmetic, concatenation, slicing, …) is recomputed there from its operands
/// instead of stored, recursively, so the tape holds only results of the costly ops (dense
/// layers, convolutions, transcendental functions): for an MLP with `tanh`, each hidden
/// layer's output, as the runtime `Mlp` keeps (`1 − y²` is recomputed from it).
pub fn partition(g: &Graph, late: &[u32], recompute_cheap: bool) -> Partition {
    let n = g.nodes.len();
    let mut dependent = vec![false; n];
    for (k, node) in g.nodes.iter().enumerate() {
        dependent[k] = match node.op {
            Op::Input { index } => late.contains(&index),
            ref op => op.operands().iter().any(|u| dependent[u.index()]),
        };
    }
    // Nodes the outputs need at all.
    let mut live = vec![false; n];
    for v in &g.outputs {
        live[v.index()] = true;
    }
    for k in (0..n).rev() {
        if live[k] {
            for u in g.nodes[k].op.operands() {
                live[u.index()] = true;
            }
        }
    }
    let mut in_backward: Vec<bool> = (0..n).map(|k| live[k] && dependent[k]).collect();
    let mut on_tape = vec![false; n];
    // Walk down: every operand of a backward node is in the backward pass (leaves,
    // recomputed elementwise nodes) or on the tape.
    for k in (0..n).rev() {
        if !in_backward[k] {
            continue;
        }
        for u in g.nodes[k].op.operands() {
            let (i, op) = (u.index(), &g.nodes[u.index()].op);
            if in_backward[i] || on_tape[i] {
                continue;
            }
            if op.is_leaf() || (recompute_cheap && op.is_cheap()) {
                in_backward[i] = true;
            } else {
                on_tape[i] = true;
            }
        }
    }
    let mut in_forward = vec![false; n];
    for v in &g.outputs {
        if !dependent[v.index()] {
            in_forward[v.index()] = true;
        }
    }
    for k in 0..n {
        in_forward[k] |= on_tape[k];
    }
    for k in (0..n).rev() {
        if in_forward[k] {
            for u in g.nodes[k].op.operands() {
                in_forward[u.index()] = true;
            }
        }
    }
    let pick = |set: &[bool]| -> Vec<Value> {
        (0..n)
            .filter(|&k| set[k])
            .map(|k| Value(k as u32))
            .collect()
    };
    Partition {
        forward: pick(&in_forward),
        backward: pick(&in_backward),
        tape: pick(&on_tape),
        dependent,
    }
}

/// True when the graph may be evaluated on any split of the batch into chunks, its global
/// outputs being the sums of the chunks' and its batched outputs the rows of the chunks':
/// the batch reductions (`batch_outer`, `batch_sum`, `conv1d_wgrad`, `conv2d_wgrad`) are only summed,
/// scaled and negated (gradient accumulation) before reaching the outputs, never read by
/// anything else, and every global output is such a sum or a zero constant (dead nodes
/// are ignored). Vector
/// fields, CNF and energy dynamics and their VJP and JVP graphs are chunkable; a graph that
/// feeds a batch reduction back into batched values (coupling the samples), or through a
/// nonlinear function, is not.
pub fn batch_chunkable(g: &Graph) -> bool {
    let g = &dce(g);
    let mut reduced = vec![false; g.nodes.len()];
    for (k, node) in g.nodes.iter().enumerate() {
        let reads = node
            .op
            .operands()
            .iter()
            .filter(|u| reduced[u.index()])
            .count();
        reduced[k] = match node.op {
            Op::BatchOuter { .. }
            | Op::BatchSum { .. }
            | Op::Conv1dWeightGrad { .. }
            | Op::Conv2dWeightGrad { .. } => reads == 0,
            Op::Binary {
                op: BinaryOp::Add | BinaryOp::Sub,
                ..
            } => reads == 2,
            Op::Scale { .. }
            | Op::Unary {
                op: UnaryOp::Neg, ..
            } => reads == 1,
            _ => false,
        };
        if reads > 0 && !reduced[k] {
            return false;
        }
    }
    g.outputs.iter().all(|v| {
        let node = &g.nodes[v.index()];
        node.ty.is_batched()
            || reduced[v.index()]
            || matches!(node.op, Op::Const { value, .. } if value == 0.0)
    })
}
