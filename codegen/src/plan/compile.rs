//! Compiling a graph (or part of one) into a [`Plan`]: the nodes needed, the fused `tanh`
//! derivatives, then one pass that assigns every value a buffer (first fit, freed at the
//! last use, in place on a dying operand for elementwise steps).

use crate::ir::{Graph, Op, Value};

use super::dense_time::fuse_dense_time;
use super::fuse::{Fused, closure, fuse_tanh_grads, readers as count_readers};
use super::{Arena, Finish, Kernel, Len, Plan, PlanSpec, Slot, Step, Temps};

/// First-fit allocator over one arena (units: elements or rows).
#[derive(Default)]
struct Alloc {
    free: Vec<(usize, usize)>,
    top: usize,
}

impl Alloc {
    fn take(&mut self, n: usize) -> usize {
        if let Some(i) = self.free.iter().position(|&(_, l)| l >= n) {
            let (off, l) = self.free[i];
            if l == n {
                self.free.remove(i);
            } else {
                self.free[i] = (off + n, l - n);
            }
            return off;
        }
        // Extend a free block that ends at the top.
        if let Some(&(off, l)) = self.free.last()
            && off + l == self.top
        {
            self.free.pop();
            self.top = off + n;
            return off;
        }
        let off = self.top;
        self.top += n;
        off
    }

    fn give(&mut self, off: usize, n: usize) {
        let i = self.free.partition_point(|&(o, _)| o < off);
        self.free.insert(i, (off, n));
        // Merge with the next, then with the previous block.
        if i + 1 < self.free.len() && self.free[i].0 + self.free[i].1 == self.free[i + 1].0 {
            self.free[i].1 += self.free[i + 1].1;
            self.free.remove(i + 1);
        }
        if i > 0 && self.free[i - 1].0 + self.free[i - 1].1 == self.free[i].0 {
            self.free[i - 1].1 += self.free[i].1;
            self.free.remove(i);
        }
    }
}

fn width(g: &Graph, v: Value) -> usize {
    g.nodes()[v.index()].ty.width().unwrap_or(0)
}

/// The kernel of a non-leaf node (or of `time` / a batched constant).
fn kernel(g: &Graph, v: Value) -> Kernel {
    let node = &g.nodes()[v.index()];
    let w = |u: &Value| width(g, *u);
    match &node.op {
        Op::Const { value, .. } => Kernel::Fill(*value),
        Op::Time | Op::Input { .. } | Op::Param { .. } => Kernel::Time,
        Op::Dense { x, .. } => Kernel::Dense {
            inp: w(x),
            out: width(g, v),
        },
        Op::DenseNT { x, .. } => Kernel::DenseNT {
            k: w(x),
            m: width(g, v),
        },
        Op::BatchOuter { a, b } => Kernel::BatchOuter {
            p: w(a),
            q: w(b),
            acc: false,
        },
        Op::BatchSum { x } => Kernel::BatchSum {
            w: w(x),
            acc: false,
        },
        Op::BroadcastRows { .. } => Kernel::BroadcastRows { w: width(g, v) },
        Op::Unary { op, .. } => Kernel::Unary(*op),
        Op::Binary { op, a, b } => Kernel::Binary {
            op: *op,
            wa: w(a),
            wb: w(b),
        },
        Op::Scale { c, .. } => Kernel::Scale(*c),
        Op::Concat { parts } => Kernel::Concat(parts.iter().map(w).collect()),
        Op::Slice { x, start, len } => Kernel::Slice {
            w: w(x),
            start: *start,
            len: *len,
        },
        Op::SumGroups { size, .. } => Kernel::SumGroups(*size),
        Op::RepeatGroups { size, .. } => Kernel::RepeatGroups(*size),
        Op::Stencil { coeffs, n, .. } => Kernel::Stencil {
            coeffs: coeffs.clone(),
            n: *n,
        },
        Op::Conv1d { shape, .. } => Kernel::Conv1d(*shape),
        Op::Conv1dT { shape, .. } => Kernel::Conv1dT(*shape),
        Op::Conv1dWeightGrad { shape, .. } => Kernel::Conv1dWGrad {
            shape: *shape,
            acc: false,
        },
        // The scratch slots are assigned by the allocation pass.
        Op::Conv2d { shape, .. } => Kernel::Conv2d {
            shape: *shape,
            cols: Slot::X,
        },
        Op::Conv2dT { shape, .. } => Kernel::Conv2dT {
            shape: *shape,
            cols: Slot::X,
        },
        Op::Conv2dWeightGrad { shape, .. } => Kernel::Conv2dWGrad {
            shape: *shape,
            cols: Slot::X,
            acc: false,
        },
        Op::Squeeze { shape, .. } => Kernel::Squeeze(*shape),
        Op::Unsqueeze { shape, .. } => Kernel::Unsqueeze(*shape),
    }
}

/// Compiles `spec` into a program; also returns the slots of the reserved values.
pub fn compile(spec: &PlanSpec<'_>) -> (Plan, Vec<(Value, Slot)>) {
    let g = spec.graph;
    let nodes = g.nodes();
    let n = nodes.len();
    let mut slot: Vec<Option<Slot>> = vec![None; n];
    for &(v, s) in spec.load {
        slot[v.index()] = Some(s);
    }
    // The nodes needed, stopping at loaded values; then again after fusing `g · (1 − y²)`.
    let plain = |k: usize| nodes[k].op.operands();
    let needed = closure(spec, &slot, n, plain);
    let counts = count_readers(spec, g, &slot, &needed);
    let mut fused: Vec<Option<Fused>> = vec![None; n];
    fuse_dense_time(g, &slot, &needed, &counts, &mut fused);
    fuse_tanh_grads(g, &slot, &needed, &counts, &mut fused);
    let operands = |k: usize| match &fused[k] {
        Some(f) => f.operands.clone(),
        None => nodes[k].op.operands(),
    };
    let needed = closure(spec, &slot, n, operands);
    // Leaves that live outside the arenas.
    let mut consts: Vec<f64> = Vec::new();
    let mut aux_used = Vec::new();
    for k in 0..n {
        if !needed[k] || slot[k].is_some() {
            continue;
        }
        slot[k] = match &nodes[k].op {
            Op::Input { index } if *index == 0 => Some(Slot::X),
            Op::Input { index } if Some(*index) == spec.lam_input => Some(Slot::Lam),
            Op::Input { index } => {
                aux_used.push(*index as usize);
                Some(Slot::Aux(*index as usize))
            }
            Op::Param { index } => Some(Slot::Param(spec.param_offsets[*index as usize])),
            Op::Const { value, ty } if !ty.is_batched() => {
                let off = consts.len();
                consts.extend(std::iter::repeat_n(*value, ty.numel()));
                Some(Slot::Const(off))
            }
            _ => None,
        };
    }
    let order: Vec<usize> = (0..n).filter(|&k| needed[k] && slot[k].is_none()).collect();
    let pos_of = {
        let mut p = vec![usize::MAX; n];
        for (i, &k) in order.iter().enumerate() {
            p[k] = i;
        }
        p
    };
    // Last use (step position); outputs and reserved values live to the end.
    let mut last = vec![0usize; n];
    for (i, &k) in order.iter().enumerate() {
        for u in operands(k) {
            last[u.index()] = last[u.index()].max(i);
        }
    }
    let mut reserved = vec![false; n];
    for &v in spec.reserve {
        reserved[v.index()] = true;
        last[v.index()] = usize::MAX;
    }
    let mut readers = vec![0usize; n];
    for &k in &order {
        for u in operands(k) {
            readers[u.index()] += 1;
        }
    }
    // Destinations written directly by the step.
    let mut direct: Vec<Option<Slot>> = vec![None; n];
    let mut finish = Vec::new();
    for &(v, dest) in &spec.outputs {
        let k = v.index();
        let times = spec.outputs.iter().filter(|(u, _)| *u == v).count();
        let computed = pos_of[k] != usize::MAX && !reserved[k];
        let len = Len::of(&nodes[k].ty);
        match dest {
            Slot::Gp(off) => {
                if matches!(nodes[k].op, Op::Const { value, .. } if value == 0.0) {
                    continue;
                }
                let accumulating = matches!(
                    nodes[k].op,
                    Op::BatchOuter { .. }
                        | Op::BatchSum { .. }
                        | Op::Conv1dWeightGrad { .. }
                        | Op::Conv2dWeightGrad { .. }
                );
                if computed && times == 1 && readers[k] == 0 && accumulating {
                    direct[k] = Some(dest);
                } else {
                    last[k] = usize::MAX;
                    finish.push(Finish::AddGp {
                        from: Slot::X,
                        off,
                        n: len.fixed,
                    });
                }
            }
            _ => {
                if computed && times == 1 {
                    direct[k] = Some(dest);
                } else {
                    last[k] = usize::MAX;
                    finish.push(Finish::Copy {
                        from: Slot::X,
                        to: dest,
                        len,
                    });
                }
            }
        }
    }
    // Allocation.
    let (ga, ba) = match spec.temps {
        Temps::Scratch => (Arena::ScratchG, Arena::ScratchB),
        Temps::Tape => (Arena::TapeG, Arena::TapeB),
    };
    let (mut galloc, mut balloc) = (Alloc::default(), Alloc::default());
    let mut owned = vec![false; n];
    let mut steps = Vec::with_capacity(order.len());
    for (i, &k) in order.iter().enumerate() {
        let node = &nodes[k];
        let len = Len::of(&node.ty);
        let ops = operands(k);
        let out = if let Some(d) = direct[k] {
            d
        } else {
            // In place on an operand that dies here.
            let elementwise = fused[k]
                .as_ref()
                .map_or(node.op.is_elementwise(), |f| f.in_place);
            let inherit = if elementwise {
                ops.iter().copied().find(|u| {
                    owned[u.index()] && last[u.index()] == i && Len::of(&nodes[u.index()].ty) == len
                })
            } else {
                None
            };
            match inherit {
                Some(u) => {
                    owned[u.index()] = false;
                    slot[u.index()].unwrap_or(Slot::X)
                }
                None if len.batched() => Slot::Buf(ba, balloc.take(len.per_row)),
                None => Slot::Buf(ga, galloc.take(len.fixed)),
            }
        };
        slot[k] = Some(out);
        owned[k] = matches!(out, Slot::Buf(..)) && !reserved[k];
        let mut kern = match &fused[k] {
            Some(f) => f.kernel.clone(),
            None => kernel(g, Value(k as u32)),
        };
        if let Slot::Gp(_) = out {
            match &mut kern {
                Kernel::BatchOuter { acc, .. }
                | Kernel::BatchOuterTime { acc, .. }
                | Kernel::BatchSum { acc, .. }
                | Kernel::Conv1dWGrad { acc, .. }
                | Kernel::Conv2dWGrad { acc, .. } => *acc = true,
                _ => {}
            }
        }
        // A convolution's im2col scratch: a global buffer alive during this step only.
        if let Kernel::Conv2d { shape, cols }
        | Kernel::Conv2dT { shape, cols }
        | Kernel::Conv2dWGrad { shape, cols, .. } = &mut kern
        {
            let n = shape.cols_len();
            let off = galloc.take(n);
            galloc.give(off, n);
            *cols = Slot::Buf(ga, off);
        }
        let args = ops
            .iter()
            .map(|u| {
                (
                    slot[u.index()].unwrap_or(Slot::X),
                    Len::of(&nodes[u.index()].ty),
                )
            })
            .collect();
        steps.push(Step {
            kernel: kern,
            out,
            len,
            args,
        });
        // Free operands that die here.
        let mut freed: Vec<usize> = Vec::new();
        for u in ops {
            let j = u.index();
            if owned[j] && last[j] == i && !freed.contains(&j) {
                freed.push(j);
                owned[j] = false;
                if let Some(Slot::Buf(_, off)) = slot[j] {
                    let l = Len::of(&nodes[j].ty);
                    if l.batched() {
                        balloc.give(off, l.per_row);
                    } else {
                        galloc.give(off, l.fixed);
                    }
                }
            }
        }
    }
    // Fill in the sources of the finishing copies.
    let mut fi = 0;
    for &(v, dest) in &spec.outputs {
        let k = v.index();
        if direct[k] == Some(dest) {
            continue;
        }
        if matches!(dest, Slot::Gp(_))
            && matches!(nodes[k].op, Op::Const { value, .. } if value == 0.0)
        {
            continue;
        }
        let from = slot[k].unwrap_or(Slot::X);
        match &mut finish[fi] {
            Finish::Copy { from: f, .. } | Finish::AddGp { from: f, .. } => *f = from,
        }
        fi += 1;
    }
    aux_used.sort_unstable();
    aux_used.dedup();
    let kept = spec
        .reserve
        .iter()
        .map(|&v| (v, slot[v.index()].unwrap_or(Slot::X)))
        .collect();
    let prog = Plan {
        steps,
        finish,
        consts,
        aux_used,
        globals: galloc.top,
        rows: balloc.top,
    };
    (prog, kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ad::{Wrt, vjp};
    use crate::ir::{Activation, UnaryOp};

    #[test]
    fn allocator_reuses_and_merges() {
        let mut a = Alloc::default();
        let (x, y, z) = (a.take(4), a.take(2), a.take(3));
        assert_eq!((x, y, z, a.top), (0, 4, 6, 9));
        a.give(x, 4);
        a.give(y, 2);
        assert_eq!(a.free, vec![(0, 6)]);
        assert_eq!(a.take(5), 0);
        a.give(z, 3);
        // The free block at the top grows instead of a new one.
        assert_eq!(a.take(5), 5);
        assert_eq!(a.top, 10);
    }

    #[test]
    fn tanh_mlp_vjp_is_fused_and_in_place() {
        let g = Graph::mlp(2, &[16, 16], Activation::Tanh, true).unwrap();
        let v = vjp(&g, &Wrt::state_and_params(&g)).unwrap();
        let offsets = g.param_offsets();
        let mut outputs = vec![(v.outputs()[1], Slot::Gx)];
        outputs.extend(
            v.outputs()[2..]
                .iter()
                .zip(&offsets)
                .map(|(&o, &off)| (o, Slot::Gp(off))),
        );
        let (p, _) = compile(&PlanSpec {
            graph: &v,
            outputs,
            lam_input: Some(1),
            temps: Temps::Scratch,
            reserve: &[],
            load: &[],
            param_offsets: &offsets,
        });
        let count = |f: fn(&Kernel) -> bool| p.steps.iter().filter(|s| f(&s.kernel)).count();
        assert_eq!(count(|k| matches!(k, Kernel::TanhGrad)), 2);
        assert_eq!(count(|k| matches!(k, Kernel::Unary(UnaryOp::Square))), 0);
        // Every weight and bias gradient is accumulated straight into gp; layer 0 reads
        // [x, t] without materialising it (its weight and input gradients fused).
        assert_eq!(
            count(|k| matches!(k, Kernel::BatchOuter { acc: true, .. })),
            2
        );
        assert_eq!(
            count(|k| matches!(k, Kernel::BatchOuterTime { acc: true, .. })),
            1
        );
        assert_eq!(count(|k| matches!(k, Kernel::DenseTime { .. })), 1);
        assert_eq!(count(|k| matches!(k, Kernel::DenseNTCols { .. })), 1);
        assert_eq!(count(|k| matches!(k, Kernel::Concat(_))), 0);
        assert_eq!(
            count(|k| matches!(k, Kernel::BatchSum { acc: true, .. })),
            3
        );
        assert!(p.finish.is_empty());
        // tanh runs in place on its dense layer's buffer.
        for s in &p.steps {
            if matches!(s.kernel, Kernel::Unary(UnaryOp::Tanh)) {
                assert_eq!(s.args[0].0, s.out);
            }
        }
    }

    #[test]
    fn conv2d_scratch_is_a_global_buffer_of_its_own() {
        use crate::ir::{Conv2dShape, GraphBuilder};
        let s = Conv2dShape {
            cin: 2,
            cout: 3,
            h: 5,
            w: 4,
            k: 3,
            stride: 1,
            pad: 1,
        };
        let mut b = GraphBuilder::new();
        let x = b.input("x", s.in_width()).unwrap();
        let w = b.param("w", &[3, 2, 3, 3]).unwrap();
        let bias = b.param("b", &[3]).unwrap();
        let y = b.conv2d(x, w, Some(bias), s).unwrap();
        let y = b.unary(UnaryOp::Tanh, y).unwrap();
        let g = b.finish(&[y]).unwrap();
        let v = vjp(&g, &Wrt::state_and_params(&g)).unwrap();
        let offsets = g.param_offsets();
        let mut outputs = vec![(v.outputs()[1], Slot::Gx)];
        outputs.extend(
            v.outputs()[2..]
                .iter()
                .zip(&offsets)
                .map(|(&o, &off)| (o, Slot::Gp(off))),
        );
        let (p, _) = compile(&PlanSpec {
            graph: &v,
            outputs,
            lam_input: Some(1),
            temps: Temps::Scratch,
            reserve: &[],
            load: &[],
            param_offsets: &offsets,
        });
        let mut seen = 0;
        for st in &p.steps {
            let (shape, cols) = match &st.kernel {
                Kernel::Conv2d { shape, cols }
                | Kernel::Conv2dT { shape, cols }
                | Kernel::Conv2dWGrad { shape, cols, .. } => (shape, cols),
                _ => continue,
            };
            seen += 1;
            let Slot::Buf(Arena::ScratchG, off) = *cols else {
                panic!("scratch not in the global scratch arena: {cols:?}")
            };
            let end = off + shape.cols_len();
            assert!(end <= p.globals, "{end} > {}", p.globals);
            // No operand or output of the step lives in the scratch's range.
            for &(slot, len) in st.args.iter().chain([&(st.out, st.len)]) {
                if let Slot::Buf(Arena::ScratchG, o) = slot {
                    assert!(
                        o >= end || o + len.fixed <= off,
                        "{slot:?} overlaps the scratch"
                    );
                }
            }
        }
        // The forward convolution, its transpose and its weight gradient (into gp).
        assert_eq!(seen, 3);
        assert!(
            p.steps
                .iter()
                .any(|s| matches!(s.kernel, Kernel::Conv2dWGrad { acc: true, .. }))
        );
    }
}
