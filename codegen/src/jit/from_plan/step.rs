//! One plan step as segment ops: the translator with one match arm per plan kernel
//! ([`lower_step`]); elementwise steps become fused-chain operations ([`Lowered::Chain`]).

use super::super::{Dim, FillValue, FusedOp, GemmSpec, SegOp};
use super::NetworkMode;
use crate::ir::{BinaryOp, UnaryOp};
use crate::plan::{Kernel, Len, Slot};

/// The fused operation of an elementwise step, if it has one.
pub(super) fn fusable(kernel: &Kernel) -> Option<FusedOp> {
    Some(match kernel {
        Kernel::Unary(UnaryOp::Neg) => FusedOp::Neg,
        Kernel::Unary(UnaryOp::Square) => FusedOp::Square,
        Kernel::Unary(UnaryOp::Recip) => FusedOp::Recip,
        Kernel::Unary(UnaryOp::Relu) => FusedOp::Relu,
        Kernel::Scale(c) => FusedOp::Scale(*c),
        Kernel::TanhGrad => FusedOp::TanhGrad,
        Kernel::Binary { op, wa, wb } if wa == wb => match op {
            BinaryOp::Add => FusedOp::Add,
            BinaryOp::Sub => FusedOp::Sub,
            BinaryOp::Mul => FusedOp::Mul,
            BinaryOp::Div => FusedOp::Div,
        },
        _ => return None,
    })
}

/// A plan step lowered for a segment; slots are step-local: operand `i` is `i`, the output
/// is `args.len()`.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Lowered {
    /// An elementwise step joining (or starting) a fused chain.
    Chain(FusedOp),
    /// Segment ops (every op writes only the output).
    Ops(Vec<SegOp>),
}

pub(super) fn dim(len: Len) -> Dim {
    Dim {
        per_batch: len.per_row,
        fixed: len.fixed,
    }
}

pub(super) fn rows(w: usize) -> Len {
    Len {
        per_row: w,
        fixed: 0,
    }
}

pub(super) fn fixed(n: usize) -> Len {
    Len {
        per_row: 0,
        fixed: n,
    }
}

/// `dst[0..len] = src[0..len]` as a row copy.
fn copy_all(src: usize, dst: usize, len: Len) -> SegOp {
    let (r, w) = if len.per_row > 0 {
        (Dim::rows(1), len.per_row)
    } else {
        (Dim::fixed(1), len.fixed)
    };
    SegOp::RowCopy {
        rows: r,
        len: w,
        src,
        src_off: 0,
        src_stride: w,
        dst,
        dst_off: 0,
        dst_stride: w,
    }
}

/// The translator from plan steps to segment ops: one match arm per plan kernel kind.
/// `None`: the step runs in the interpreter (unhandled kind, or shapes other than the ones
/// the lowering assumes — never expected, but the fallback is always correct).
pub(super) fn lower_step(
    kernel: &Kernel,
    out: Slot,
    len: Len,
    args: &[(Slot, Len)],
    mode: NetworkMode,
) -> Option<Lowered> {
    if let Some(op) = fusable(kernel) {
        let ok = args.len() == op.arity() && args.iter().all(|&(_, l)| l == len);
        return ok.then_some(Lowered::Chain(op));
    }
    if mode == NetworkMode::Chains {
        return None;
    }
    let o = args.len();
    let arg_len = |i: usize| args.get(i).map(|a| a.1);
    let ops = match kernel {
        Kernel::Fill(v) => vec![SegOp::Fill {
            dst: o,
            n: dim(len),
            value: FillValue::Const(*v),
        }],
        Kernel::Time => vec![SegOp::Fill {
            dst: o,
            n: dim(len),
            value: FillValue::Time,
        }],
        Kernel::Dense { inp, out: w } => {
            let bias = args.len() == 3;
            let ok = (args.len() == 2 || (bias && arg_len(2) == Some(fixed(*w))))
                && arg_len(0) == Some(rows(*inp))
                && arg_len(1) == Some(fixed(inp * w))
                && len == rows(*w);
            if !ok {
                return None;
            }
            // x [B,inp] · Wᵀ (W [w,inp] row-major read transposed), the bias added in the
            // GEMM's store, as in the interpreter.
            vec![SegOp::Gemm(GemmSpec {
                m: Dim::rows(1),
                n: Dim::fixed(*w),
                k: Dim::fixed(*inp),
                a: 0,
                rs_a: *inp,
                cs_a: 1,
                b: 1,
                rs_b: 1,
                cs_b: *inp,
                c: o,
                ldc: *w,
                acc: false,
                bias: bias.then_some(2),
            })]
        }
        Kernel::DenseTime { k, out: w } => {
            let inp = k + 1;
            let ok = args.len() == 3
                && arg_len(0) == Some(rows(*k))
                && arg_len(1) == Some(fixed(inp * w))
                && arg_len(2) == Some(fixed(*w))
                && len == rows(*w);
            if !ok {
                return None;
            }
            // Rows of b + t·W[:, k], then x [B,k] · W[:, :k]ᵀ accumulated onto them
            // (`linalg::dense::affine_time`: bit for bit the GEMM with that bias in its store).
            vec![
                SegOp::BiasTimeRows {
                    dst: o,
                    bias: 2,
                    w: 1,
                    out: *w,
                    inp,
                    k: *k,
                    rows: Dim::rows(1),
                },
                SegOp::Gemm(GemmSpec {
                    m: Dim::rows(1),
                    n: Dim::fixed(*w),
                    k: Dim::fixed(*k),
                    a: 0,
                    rs_a: *k,
                    cs_a: 1,
                    b: 1,
                    rs_b: 1,
                    cs_b: inp,
                    c: o,
                    ldc: *w,
                    acc: true,
                    bias: None,
                }),
            ]
        }
        Kernel::DenseNTCols { k, m, cols } => {
            let ok = args.len() == 2
                && arg_len(0) == Some(rows(*k))
                && arg_len(1) == Some(fixed(k * m))
                && len == rows(*cols);
            if !ok {
                return None;
            }
            // x [B,k] · W[:, :cols] (W [k,m] row-major).
            vec![SegOp::Gemm(GemmSpec {
                m: Dim::rows(1),
                n: Dim::fixed(*cols),
                k: Dim::fixed(*k),
                a: 0,
                rs_a: *k,
                cs_a: 1,
                b: 1,
                rs_b: *m,
                cs_b: 1,
                c: o,
                ldc: *cols,
                acc: false,
                bias: None,
            })]
        }
        Kernel::BatchOuterTime { p, k, acc } => {
            let inp = k + 1;
            let ok = args.len() == 2
                && arg_len(0) == Some(rows(*p))
                && arg_len(1) == Some(rows(*k))
                && len == fixed(p * inp);
            if !ok {
                return None;
            }
            // aᵀ · x into the first k columns of G [p, k+1], then the time column row by row.
            vec![
                SegOp::Gemm(GemmSpec {
                    m: Dim::fixed(*p),
                    n: Dim::fixed(*k),
                    k: Dim::rows(1),
                    a: 0,
                    rs_a: 1,
                    cs_a: *p,
                    b: 1,
                    rs_b: *k,
                    cs_b: 1,
                    c: o,
                    ldc: inp,
                    acc: *acc,
                    bias: None,
                }),
                SegOp::TimeColGrad {
                    dst: o,
                    src: 0,
                    p: *p,
                    ld: inp,
                    col: *k,
                    rows: Dim::rows(1),
                    acc: *acc,
                },
            ]
        }
        Kernel::DenseNT { k, m } => {
            let ok = args.len() == 2
                && arg_len(0) == Some(rows(*k))
                && arg_len(1) == Some(fixed(k * m))
                && len == rows(*m);
            if !ok {
                return None;
            }
            vec![SegOp::Gemm(GemmSpec {
                m: Dim::rows(1),
                n: Dim::fixed(*m),
                k: Dim::fixed(*k),
                a: 0,
                rs_a: *k,
                cs_a: 1,
                b: 1,
                rs_b: *m,
                cs_b: 1,
                c: o,
                ldc: *m,
                acc: false,
                bias: None,
            })]
        }
        Kernel::BatchOuter { p, q, acc } => {
            let ok = args.len() == 2
                && arg_len(0) == Some(rows(*p))
                && arg_len(1) == Some(rows(*q))
                && len == fixed(p * q);
            if !ok {
                return None;
            }
            // aᵀ [p,B] (a [B,p] read transposed) · b [B,q].
            vec![SegOp::Gemm(GemmSpec {
                m: Dim::fixed(*p),
                n: Dim::fixed(*q),
                k: Dim::rows(1),
                a: 0,
                rs_a: 1,
                cs_a: *p,
                b: 1,
                rs_b: *q,
                cs_b: 1,
                c: o,
                ldc: *q,
                acc: *acc,
                bias: None,
            })]
        }
        Kernel::BatchSum { w, acc } => {
            if args.len() != 1 || arg_len(0) != Some(rows(*w)) || len != fixed(*w) {
                return None;
            }
            vec![SegOp::ColSum {
                dst: o,
                src: 0,
                w: *w,
                rows: Dim::rows(1),
                acc: *acc,
            }]
        }
        Kernel::BroadcastRows { w } => {
            if args.len() != 1 || arg_len(0) != Some(fixed(*w)) || len != rows(*w) {
                return None;
            }
            vec![SegOp::RowCopy {
                rows: Dim::rows(1),
                len: *w,
                src: 0,
                src_off: 0,
                src_stride: 0,
                dst: o,
                dst_off: 0,
                dst_stride: *w,
            }]
        }
        Kernel::Unary(UnaryOp::Tanh) => {
            if args.len() != 1 || arg_len(0) != Some(len) {
                return None;
            }
            let mut ops = Vec::with_capacity(2);
            if args[0].0 != out {
                ops.push(copy_all(0, o, len));
            }
            ops.push(SegOp::Tanh {
                dst: o,
                n: dim(len),
            });
            ops
        }
        Kernel::Concat(widths) => {
            let w: usize = widths.iter().sum();
            let ok = args.len() == widths.len()
                && len == rows(w)
                && widths
                    .iter()
                    .enumerate()
                    .all(|(i, &pw)| arg_len(i) == Some(rows(pw)));
            if !ok {
                return None;
            }
            let mut at = 0;
            let mut ops = Vec::with_capacity(widths.len());
            for (i, &pw) in widths.iter().enumerate() {
                ops.push(SegOp::RowCopy {
                    rows: Dim::rows(1),
                    len: pw,
                    src: i,
                    src_off: 0,
                    src_stride: pw,
                    dst: o,
                    dst_off: at,
                    dst_stride: w,
                });
                at += pw;
            }
            ops
        }
        Kernel::Slice { w, start, len: l } => {
            if args.len() != 1 || arg_len(0) != Some(rows(*w)) || len != rows(*l) {
                return None;
            }
            vec![SegOp::RowCopy {
                rows: Dim::rows(1),
                len: *l,
                src: 0,
                src_off: *start,
                src_stride: *w,
                dst: o,
                dst_off: 0,
                dst_stride: *l,
            }]
        }
        // Interpreter fallbacks (see the module documentation).
        Kernel::Unary(_)
        | Kernel::TanhGrad
        | Kernel::Binary { .. }
        | Kernel::Scale(_)
        | Kernel::SumGroups(_)
        | Kernel::RepeatGroups(_)
        | Kernel::Stencil { .. }
        | Kernel::Conv1d(_)
        | Kernel::Conv1dT(_)
        | Kernel::Conv1dWGrad { .. }
        | Kernel::Conv2d { .. }
        | Kernel::Conv2dT { .. }
        | Kernel::Conv2dWGrad { .. }
        | Kernel::Squeeze(_)
        | Kernel::Unsqueeze(_) => return None,
    };
    Some(Lowered::Ops(ops))
}

/// Rewrites the step-local slots of `op` through `map`.
pub(super) fn remap(op: &mut SegOp, map: &[usize]) {
    match op {
        SegOp::Gemm(g) => {
            g.a = map[g.a];
            g.b = map[g.b];
            g.c = map[g.c];
            g.bias = g.bias.map(|b| map[b]);
        }
        SegOp::RowCopy { src, dst, .. } => {
            *src = map[*src];
            *dst = map[*dst];
        }
        SegOp::Fill { dst, .. } | SegOp::Tanh { dst, .. } => *dst = map[*dst],
        SegOp::ColSum { dst, src, .. } | SegOp::TimeColGrad { dst, src, .. } => {
            *dst = map[*dst];
            *src = map[*src];
        }
        SegOp::BiasTimeRows { dst, bias, w, .. } => {
            *dst = map[*dst];
            *bias = map[*bias];
            *w = map[*w];
        }
        SegOp::Chain { steps, .. } => {
            for s in steps {
                s.out = map[s.out];
                for a in &mut s.args {
                    *a = map[*a];
                }
            }
        }
    }
}
