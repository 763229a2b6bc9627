//! The translator from plan steps ([`crate::plan`]) to JIT segments: each maximal run of
//! consecutive steps the JIT handles becomes one Cranelift function (a *segment*,
//! [`SegmentSpec`]), built with one match arm per plan kernel (`lower_step`) into the
//! segment ops ([`SegOp`], lowered by `lower/segment.rs`, one arm per op). The runtime's
//! `JitNetwork` runs the segments in place of the interpreter's steps
//! ([`ProgramSegments::at`] says, per step, what to do):
//!
//! | plan step | generated code |
//! |---|---|
//! | `Dense` (`x Wᵀ + b`) | inline bias-row loop (the GEMM's initial value), then a call to the runtime's GEMM through a function pointer |
//! | `DenseTime` (`[x, t]` layer) | inline rows of `b + t·W[:, k]`, then an accumulating GEMM call over the first `k` columns |
//! | `DenseNTCols`, `BatchOuterTime` | GEMM calls on column views; the time column's gradient an inline row-by-row loop |
//! | `DenseNT` (`x W`), `BatchOuter` (`Σ aᵀ b`, accumulating into `gp`) | GEMM call through the function pointer |
//! | `Unary(Tanh)` | (inline copy if not in place, then) call of the vectorised `tanh` through a function pointer |
//! | negation, square, reciprocal, ReLU, scaling, same-shape add/sub/mul/div, `g·(1 − y²)` | fused elementwise chains, inline `f64x2`/`f32x4` loops, values passed in registers |
//! | `BatchSum` (bias gradients) | inline column-sum loops |
//! | `Fill`, `Time`, `BroadcastRows`, `Concat`, `Slice` | inline fill / row-copy loops |
//!
//! Everything else falls back to the interpreter's Rust code, between segments: the other
//! transcendental activations (softplus, sigmoid, ELU, SiLU, step, sin, cos, exp, log),
//! broadcasting binaries (`[B,1]` against `[B,w]`), group sums and repeats, stencils,
//! 1-D and 2-D convolutions (im2col + the runtime GEMM for 2-D) and the 2×2 squeeze, and the
//! programs' finishing copies. The GEMM and `tanh` are the very
//! functions the interpreter calls, with the same views, and the inline loops use the
//! interpreter's expressions in the same order without contraction to fused multiply–add,
//! so results are bit-equal to the runtime interpreter's.
//!
//! Two elementwise steps join a chain only if each buffer one of them writes either is the
//! very same buffer as, or does not overlap, every buffer the other touches (so processing
//! element by element equals processing step by step), and a chain touches at most 16
//! buffers; a segment touches at most 64 buffers (the pointer table lives on the stack: an
//! evaluation allocates nothing).
//!
//! [`NetworkMode::Chains`] restricts segments to the elementwise chains (the earlier network
//! JIT, kept for comparison).

mod step;

use super::{FusedOp, FusedStep, SegOp, SegmentSpec};
use crate::plan::{Arena, Finish, Len, Plan, Slot};
use step::{Lowered, dim, fixed, lower_step, remap};

/// Most buffers one chain touches.
const MAX_CHAIN_PTRS: usize = 16;
/// Most buffers one segment touches (the runtime keeps its pointer table on the stack).
pub const MAX_PTRS: usize = 64;

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

/// What the runtime does at a step of a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// Run by the interpreter.
    Interp,
    /// First step of segment `i`: run it.
    Run(usize),
    /// Inside a segment already run.
    Skip,
}

/// Buffers touched: slot, element count, written.
pub type Touched = Vec<(Slot, Len, bool)>;

/// One segment of a program.
#[derive(Clone, Debug)]
pub struct PlannedSegment {
    /// Index of its [`SegmentSpec`] in the list [`plan_segments`] appended to.
    pub kernel: usize,
    /// Pointer slot `i` of the kernel: plan slot, largest extent used, written.
    pub slots: Touched,
    /// Fused elementwise chains in it.
    pub chains: usize,
    /// Calls through function pointers (GEMM, `tanh`) per run.
    pub calls: usize,
}

/// How one program runs under the JIT: what to do at each step, and its segments.
#[derive(Clone, Debug, Default)]
pub struct ProgramSegments {
    /// Per plan step: interpreted, first step of a segment, or inside one.
    pub at: Vec<At>,
    /// The segments.
    pub segments: Vec<PlannedSegment>,
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

/// Splits `prog` into segments; appends their specs to `specs` (named `{tag}_seg_{k}`).
pub fn plan_segments(
    prog: &Plan,
    tag: &str,
    mode: NetworkMode,
    specs: &mut Vec<SegmentSpec>,
) -> ProgramSegments {
    let steps = &prog.steps;
    let mut sub = ProgramSegments {
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
    let mut close = |open: &mut Option<OpenSegment>, end: usize, sub: &mut ProgramSegments| {
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
        sub.segments.push(PlannedSegment {
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
