//! [`JitNetwork`]: an interpreted network whose programs run as JIT-compiled segments.
//!
//! The interpreter's four programs (eval, VJP, taped forward, taped backward) keep their
//! buffer plans over the caller's scratch and tape. Each maximal run of consecutive steps
//! the JIT handles becomes one Cranelift function (a *segment*, [`JitSegments`]), built by a
//! translator with one match arm per plan kernel ([`lower_step`]) into the segment ops of
//! `symplode_codegen::jit::SegOp` (lowered by codegen's translator, one arm per op):
//!
//! | plan step | generated code |
//! |---|---|
//! | `Dense` (`x Wᵀ + b`) | inline bias-row loop (the GEMM's initial value), then a call to the runtime's GEMM through a function pointer |
//! | `DenseNT` (`x W`), `BatchOuter` (`Σ aᵀ b`, accumulating into `gp`) | GEMM call through the function pointer |
//! | `Unary(Tanh)` | (inline copy if not in place, then) call of the vectorised `tanh` through a function pointer |
//! | negation, square, reciprocal, ReLU, scaling, same-shape add/sub/mul/div, `g·(1 − y²)` | fused elementwise chains, inline `f64x2`/`f32x4` loops, values passed in registers |
//! | `BatchSum` (bias gradients) | inline column-sum loops |
//! | `Fill`, `Time`, `BroadcastRows`, `Concat`, `Slice` | inline fill / row-copy loops |
//!
//! Everything else falls back to the interpreter's Rust code, between segments: the other
//! transcendental activations (softplus, sigmoid, ELU, SiLU, step, sin, cos, exp, log),
//! broadcasting binaries (`[B,1]` against `[B,w]`), group sums and repeats, stencils and
//! convolutions, and the programs' finishing copies. The GEMM and `tanh` are the very
//! functions the interpreter calls, with the same views, and the inline loops use the
//! interpreter's expressions in the same order without contraction to fused multiply–add,
//! so results are bit-equal to [`Interpreted`].
//!
//! Two elementwise steps join a chain only if each buffer one of them writes either is the
//! very same buffer as, or does not overlap, every buffer the other touches (so processing
//! element by element equals processing step by step), and a chain touches at most 16
//! buffers; a segment touches at most 64 buffers (the pointer table lives on the stack: an
//! evaluation allocates nothing).
//!
//! [`NetworkMode::Chains`] restricts segments to the elementwise chains (the earlier network
//! JIT, kept for comparison).

use symplode_codegen::ir::{BinaryOp, UnaryOp};
use symplode_codegen::jit::{
    Callbacks, Dim, FillValue, FusedOp, FusedStep, GemmSpec, JitOptions, JitReport, JitSegments,
    SegOp, SegmentSpec,
};

use super::{JitError, JitReal, ffi};
use crate::dynamics::{Dynamics, ParamTensor};
use crate::interp::{Arena, Finish, Interpreted, Kernel, Len, Plan, PlanSlot as Slot, RunMem};

/// Most buffers one chain touches.
const MAX_CHAIN_PTRS: usize = 16;
/// Most buffers one segment touches (its pointer table is on the stack).
const MAX_PTRS: usize = 64;

/// Which plan steps the network JIT compiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// Dense layers (GEMM through a function pointer), `tanh` (through a function pointer),
    /// the elementwise work around them and data movement (see the module documentation).
    #[default]
    Segments,
    /// Only the fused elementwise chains; dense layers and activations run in the
    /// interpreter.
    Chains,
}

/// What the hook does at a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// Run by the interpreter.
    Interp,
    /// First step of segment `i`: run it.
    Run(usize),
    /// Inside a segment already run.
    Skip,
}

/// Buffers touched: slot, element count, written.
type Touched = Vec<(Slot, Len, bool)>;

/// A compiled segment of a program.
#[derive(Clone, Debug)]
struct Segment {
    kernel: usize,
    /// Pointer slot `i` of the kernel: plan slot, largest extent used, written.
    slots: Touched,
    chains: usize,
    calls: usize,
}

/// The substitution for one program.
#[derive(Clone, Debug, Default)]
struct Subst {
    at: Vec<At>,
    segments: Vec<Segment>,
}

/// Which memory a slot names and its unit range (`None`: the whole region).
fn footprint(slot: Slot, len: Len) -> (u8, usize, Option<usize>) {
    let units = if len.per_row > 0 {
        len.per_row
    } else {
        len.fixed
    };
    match slot {
        Slot::X => (0, 0, None),
        Slot::Lam => (1, 0, None),
        Slot::Aux(i) => (2 + (i.min(50) as u8), 0, None),
        Slot::Param(o) => (60, o, Some(len.fixed)),
        Slot::Const(o) => (61, o, Some(len.fixed)),
        Slot::Buf(Arena::ScratchG, o) => (62, o, Some(units)),
        Slot::Buf(Arena::ScratchB, o) => (63, o, Some(units)),
        Slot::Buf(Arena::TapeG, o) => (64, o, Some(units)),
        Slot::Buf(Arena::TapeB, o) => (65, o, Some(units)),
        Slot::Dx => (66, 0, None),
        Slot::Gx => (67, 0, None),
        Slot::Gp(o) => (68, o, Some(len.fixed)),
    }
}

fn overlap(a: (Slot, Len), b: (Slot, Len)) -> bool {
    let (ra, oa, la) = footprint(a.0, a.1);
    let (rb, ob, lb) = footprint(b.0, b.1);
    if ra != rb {
        return false;
    }
    match (la, lb) {
        (Some(la), Some(lb)) => oa < ob + lb && ob < oa + la,
        _ => true,
    }
}

/// The fused operation of an elementwise step, if it has one.
fn fusable(kernel: &Kernel) -> Option<FusedOp> {
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
enum Lowered {
    /// An elementwise step joining (or starting) a fused chain.
    Chain(FusedOp),
    /// Segment ops (every op writes only the output).
    Ops(Vec<SegOp>),
}

fn dim(len: Len) -> Dim {
    Dim {
        per_batch: len.per_row,
        fixed: len.fixed,
    }
}

fn rows(w: usize) -> Len {
    Len {
        per_row: w,
        fixed: 0,
    }
}

fn fixed(n: usize) -> Len {
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
fn lower_step(
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
        | Kernel::Conv1dWGrad { .. } => return None,
    };
    Some(Lowered::Ops(ops))
}

/// Rewrites the step-local slots of `op` through `map`.
fn remap(op: &mut SegOp, map: &[usize]) {
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
        SegOp::ColSum { dst, src, .. } => {
            *dst = map[*dst];
            *src = map[*src];
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

/// A chain being collected: its element count, the buffers it touches, and its steps
/// (operation, operand slots, output slot, as plan slots with lengths).
struct OpenChain {
    len: Len,
    touched: Touched,
    steps: Vec<ChainStep>,
}

/// A chain step as collected: operation, operands, output slot.
type ChainStep = (FusedOp, Vec<(Slot, Len)>, Slot);

/// A segment being collected.
struct OpenSegment {
    start: usize,
    slots: Touched,
    ops: Vec<SegOp>,
    chain: Option<OpenChain>,
    chains: usize,
}

impl OpenSegment {
    /// Pointer slot of `slot` (added if new; its extent and write flag widened).
    fn index(&mut self, slot: Slot, len: Len, write: bool) -> usize {
        match self.slots.iter().position(|t| t.0 == slot) {
            Some(p) => {
                let t = &mut self.slots[p];
                t.1.per_row = t.1.per_row.max(len.per_row);
                t.1.fixed = t.1.fixed.max(len.fixed);
                t.2 |= write;
                p
            }
            None => {
                self.slots.push((slot, len, write));
                self.slots.len() - 1
            }
        }
    }
}

/// Whether step `s` (touching `mine`) may join the chain that touched `touched`.
fn joins(touched: &Touched, mine: &Touched, len: Len) -> bool {
    if touched[0].1 != len {
        return false;
    }
    let mut distinct: Vec<Slot> = touched.iter().map(|t| t.0).collect();
    for &(a, la, wa) in mine {
        for &(b, lb, wb) in touched {
            if (wa || wb) && a != b && overlap((a, la), (b, lb)) {
                return false;
            }
        }
        if !distinct.contains(&a) {
            distinct.push(a);
        }
    }
    distinct.len() <= MAX_CHAIN_PTRS
}

/// Splits `prog` into segments; appends their specs to `specs`.
fn plan_segments<T>(
    prog: &Plan<T>,
    tag: &str,
    mode: NetworkMode,
    specs: &mut Vec<SegmentSpec>,
) -> Subst {
    let steps = &prog.steps;
    let mut sub = Subst {
        at: vec![At::Interp; steps.len()],
        segments: Vec::new(),
    };
    // Whether anything from step `end` on may read (a buffer overlapping) `slot`.
    let read_later = |end: usize, slot: Slot, len: Len| {
        steps[end..]
            .iter()
            .flat_map(|s| s.args.iter())
            .any(|&(a, la)| overlap((a, la), (slot, len)))
            || prog.finish.iter().any(|f| match *f {
                Finish::Copy { from, len: lf, .. } => overlap((from, lf), (slot, len)),
                Finish::AddGp { from, n, .. } => overlap((from, fixed(n)), (slot, len)),
            })
    };
    let close_chain = |seg: &mut OpenSegment, end: usize| {
        let Some(c) = seg.chain.take() else { return };
        let mut fsteps = Vec::with_capacity(c.steps.len());
        for (op, args, out) in c.steps {
            let args = args.iter().map(|&(a, l)| seg.index(a, l, false)).collect();
            let scratch = matches!(out, Slot::Buf(Arena::ScratchG | Arena::ScratchB, _));
            let store = !scratch || read_later(end, out, c.len);
            let out = seg.index(out, c.len, store);
            fsteps.push(FusedStep {
                op,
                args,
                out,
                store,
            });
        }
        seg.ops.push(SegOp::Chain {
            n: dim(c.len),
            steps: fsteps,
        });
        seg.chains += 1;
    };
    let mut close = |open: &mut Option<OpenSegment>, end: usize, sub: &mut Subst| {
        let Some(mut seg) = open.take() else { return };
        close_chain(&mut seg, end);
        let k = sub.segments.len();
        let spec = SegmentSpec {
            name: format!("{tag}_seg_{k}"),
            ptrs: seg.slots.len(),
            ops: seg.ops,
        };
        let calls = spec.calls();
        sub.at[seg.start] = At::Run(k);
        for a in &mut sub.at[seg.start + 1..end] {
            *a = At::Skip;
        }
        sub.segments.push(Segment {
            kernel: specs.len(),
            slots: seg.slots,
            chains: seg.chains,
            calls,
        });
        specs.push(spec);
    };
    let mut open: Option<OpenSegment> = None;
    for (i, s) in steps.iter().enumerate() {
        let Some(lowered) = lower_step(&s.kernel, s.out, s.len, &s.args, mode) else {
            close(&mut open, i, &mut sub);
            continue;
        };
        // Keep the segment's pointer table within MAX_PTRS.
        if let Some(seg) = &open {
            let mut new: Vec<Slot> = Vec::new();
            for sl in s.args.iter().map(|a| a.0).chain([s.out]) {
                if !seg.slots.iter().any(|t| t.0 == sl) && !new.contains(&sl) {
                    new.push(sl);
                }
            }
            if seg.slots.len() + new.len() > MAX_PTRS {
                close(&mut open, i, &mut sub);
            }
        }
        let seg = open.get_or_insert_with(|| OpenSegment {
            start: i,
            slots: Vec::new(),
            ops: Vec::new(),
            chain: None,
            chains: 0,
        });
        match lowered {
            Lowered::Chain(op) => {
                let mine: Touched = s
                    .args
                    .iter()
                    .map(|&(sl, l)| (sl, l, false))
                    .chain([(s.out, s.len, true)])
                    .collect();
                let join = seg
                    .chain
                    .as_ref()
                    .is_some_and(|c| joins(&c.touched, &mine, s.len));
                if !join {
                    close_chain(seg, i);
                    seg.chain = Some(OpenChain {
                        len: s.len,
                        touched: Vec::new(),
                        steps: Vec::new(),
                    });
                }
                let c = seg.chain.as_mut().expect("open chain");
                c.touched.extend(mine);
                c.steps.push((op, s.args.clone(), s.out));
                // Reserve the pointer slots now (write flags are set when the chain closes).
                for &(sl, l) in &s.args {
                    seg.index(sl, l, false);
                }
                seg.index(s.out, s.len, false);
            }
            Lowered::Ops(mut ops) => {
                close_chain(seg, i);
                let o = s.args.len();
                let map: Vec<usize> = s
                    .args
                    .iter()
                    .map(|&(sl, l)| (sl, l))
                    .chain([(s.out, s.len)])
                    .enumerate()
                    .map(|(j, (sl, l))| seg.index(sl, l, j == o))
                    .collect();
                for op in &mut ops {
                    remap(op, &map);
                }
                seg.ops.extend(ops);
            }
        }
    }
    close(&mut open, steps.len(), &mut sub);
    sub
}

/// An [`Interpreted`] network whose programs run as Cranelift-compiled segments: dense
/// layers call the runtime's GEMM through a function pointer, `tanh` the vectorised
/// runtime `tanh`, and the elementwise work around them (bias rows, activation
/// derivatives, gates, column sums, copies) is inline vector code. Implements [`Dynamics`],
/// so every solver and all five gradient methods can use it; results equal the
/// interpreter's bit for bit. Steps the JIT does not handle run in the interpreter (see the
/// [module documentation](self) and `docs/jit.md`, section *Network JIT*).
///
/// ```
/// use symplode_codegen::ir::{Activation, Graph};
/// use symplode_runtime::Dynamics;
/// use symplode_runtime::interp::Interpreted;
/// use symplode_runtime::jit::{JitNetwork, JitOptions};
///
/// let g = Graph::mlp(2, &[8], Activation::Tanh, true)?;
/// let f = Interpreted::<f64>::new(g, vec![0.1; 3 * 8 + 8 + 8 * 2 + 2])?;
/// let net = JitNetwork::new(f.clone(), &JitOptions::default())?;
/// let (x, mut a, mut b) = (vec![1.0, 2.0], vec![0.0; 2], vec![0.0; 2]);
/// let mut scratch = vec![0.0; net.scratch_len(1)];
/// f.eval(0.5, &x, &mut a, &mut scratch);
/// net.eval(0.5, &x, &mut b, &mut scratch);
/// assert_eq!(a, b);
/// assert_eq!(net.segments()[0], 1); // the whole eval program is one native function
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct JitNetwork<T: JitReal> {
    interp: Interpreted<T>,
    mode: NetworkMode,
    subst: [Subst; 4],
    jit: JitSegments<T>,
    calls: Callbacks<T>,
}

impl<T: JitReal> JitNetwork<T> {
    /// Compiles `interp`'s programs ([`NetworkMode::Segments`]).
    ///
    /// # Errors
    /// A Cranelift error (or a verifier rejection, an internal bug).
    pub fn new(interp: Interpreted<T>, opts: &JitOptions) -> Result<Self, JitError> {
        Self::with_mode(interp, opts, NetworkMode::Segments)
    }

    /// Compiles `interp`'s programs in `mode`.
    ///
    /// # Errors
    /// A Cranelift error (or a verifier rejection, an internal bug).
    pub fn with_mode(
        interp: Interpreted<T>,
        opts: &JitOptions,
        mode: NetworkMode,
    ) -> Result<Self, JitError> {
        let mut specs = Vec::new();
        let plans = interp.plans();
        let subst = [
            plan_segments(plans[0], "eval", mode, &mut specs),
            plan_segments(plans[1], "vjp", mode, &mut specs),
            plan_segments(plans[2], "forward", mode, &mut specs),
            plan_segments(plans[3], "backward", mode, &mut specs),
        ];
        let jit = JitSegments::compile(&specs, opts)?;
        Ok(JitNetwork {
            interp,
            mode,
            subst,
            jit,
            calls: ffi::callbacks::<T>(),
        })
    }

    /// The interpreter it runs on (auxiliary inputs are set on it).
    pub fn interpreted(&self) -> &Interpreted<T> {
        &self.interp
    }

    /// The interpreter, mutable (e.g. [`Interpreted::set_aux`]).
    pub fn interpreted_mut(&mut self) -> &mut Interpreted<T> {
        &mut self.interp
    }

    /// The mode it was compiled in.
    pub fn mode(&self) -> NetworkMode {
        self.mode
    }

    /// What was compiled (one function per segment).
    pub fn report(&self) -> &JitReport {
        self.jit.report()
    }

    /// Number of generated functions (segments) in the eval, VJP, taped forward and taped
    /// backward programs.
    pub fn segments(&self) -> [usize; 4] {
        [0, 1, 2, 3].map(|i| self.subst[i].segments.len())
    }

    /// Number of fused elementwise chains in each program.
    pub fn chains(&self) -> [usize; 4] {
        [0, 1, 2, 3].map(|i| self.subst[i].segments.iter().map(|s| s.chains).sum())
    }

    /// Number of calls through function pointers (GEMM, `tanh`) per run of each program.
    pub fn calls(&self) -> [usize; 4] {
        [0, 1, 2, 3].map(|i| self.subst[i].segments.iter().map(|s| s.calls).sum())
    }

    /// Number of interpreter steps replaced by generated code in each program.
    pub fn fused_steps(&self) -> [usize; 4] {
        [0, 1, 2, 3].map(|i| {
            self.subst[i]
                .at
                .iter()
                .filter(|a| **a != At::Interp)
                .count()
        })
    }

    /// Number of steps of each program (generated or interpreted).
    pub fn steps(&self) -> [usize; 4] {
        [0, 1, 2, 3].map(|i| self.subst[i].at.len())
    }

    /// The hook of program `p`.
    fn hook(&self, p: usize, index: usize, mem: &RunMem<'_, T>, t: T) -> bool {
        match self.subst[p].at[index] {
            At::Interp => false,
            At::Skip => true,
            At::Run(k) => {
                let seg = &self.subst[p].segments[k];
                let mut ptrs = [std::ptr::null_mut::<T>(); MAX_PTRS];
                for (q, &(slot, len, write)) in ptrs.iter_mut().zip(&seg.slots) {
                    // Checked to fit its region (and be writable when written).
                    *q = mem.slot_ptr(slot, len, write);
                }
                let kernel = &self.jit.kernels()[seg.kernel];
                // SAFETY: point 2 of `ffi`'s documentation: every pointer was checked by
                // `slot_ptr` for the slot's largest extent in this segment; the plan keeps
                // each non-elementwise step's output apart from its operands, chains obey
                // the chain rule (`joins`), and no Rust reference into the written buffers
                // is alive during the call (the interpreter makes its slices per step, after
                // the hook returns).
                unsafe {
                    ffi::run_segment(
                        kernel,
                        &ptrs[..seg.slots.len()],
                        mem.batch(),
                        t,
                        &self.calls,
                    )
                };
                true
            }
        }
    }
}

impl<T: JitReal> Dynamics<T> for JitNetwork<T> {
    fn dim(&self) -> usize {
        self.interp.dim()
    }

    fn params(&self) -> &[T] {
        self.interp.params()
    }

    fn params_mut(&mut self) -> &mut [T] {
        self.interp.params_mut()
    }

    fn param_tensors(&self) -> Vec<ParamTensor> {
        self.interp.param_tensors()
    }

    fn scratch_len(&self, batch: usize) -> usize {
        self.interp.scratch_len(batch)
    }

    fn tape_len(&self, batch: usize) -> usize {
        self.interp.tape_len(batch)
    }

    fn eval(&self, t: T, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        self.interp
            .eval_hooked(t, x, dx, scratch, &mut |i, m| self.hook(0, i, m, t))
    }

    fn vjp(&self, t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        self.interp
            .vjp_hooked(t, x, lam, gx, gp, scratch, &mut |i, m| {
                self.hook(1, i, m, t)
            })
    }

    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        self.interp
            .eval_taped_hooked(t, x, dx, tape, &mut |i, m| self.hook(2, i, m, t))
    }

    fn backward_taped(
        &self,
        t: T,
        x: &[T],
        tape: &[T],
        lam: &[T],
        gx: &mut [T],
        gp: &mut [T],
        scratch: &mut [T],
    ) {
        self.interp
            .backward_taped_hooked(t, x, tape, lam, gx, gp, scratch, &mut |i, m| {
                self.hook(3, i, m, t)
            })
    }
}
