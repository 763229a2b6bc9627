//! Steps whose batched result has the same value in every row: computed once, then copied.
//!
//! A value that depends on the time and the parameters only (e.g. a ConcatSquash layer's gate
//! `sigmoid(t·w_g + b_g)` and shift `t·w_b`, or the derivative `σ(1 − σ)` of the gate in the
//! VJP) is stored as a `[B, w]` batched buffer like every other value, so the plain program
//! computes it `B` times. When the whole batch runs at one time ([`Times::One`]), a step whose
//! kernel works row by row and whose batched operands are all *row-uniform* produces a
//! row-uniform result: the interpreter computes its first row only (the kernel with batch 1)
//! and copies that row to the others. Row-uniform are: the time, constant fills, anything
//! unbatched (parameters, constants, global buffers), and the results of such steps.
//!
//! [`uniform_steps`] finds those steps by running through the plan once, tracking for every
//! column of the batched arenas whether it holds a row-uniform value (buffers are reused, so a
//! later write clears the mark). The state, the cotangent, auxiliary inputs (e.g. the
//! Hutchinson noise) and the caller's tape are never row-uniform.
//!
//! Bit-equality with the full step: elementwise and data-movement kernels compute each row with
//! the same operations whatever the batch. A GEMM's rounding may depend on the number of rows
//! (blocking, kernel choice), so products take the shortcut only with an inner dimension of 1
//! (`t·w`, one product rounded once, then the bias added as every kernel adds it): the copied
//! row is then exactly what the full step stores in every row, and a step that the network JIT
//! runs instead (on the full batch) leaves the same values.
//!
//! **Rows that are never copied.** A row-uniform value whose every reader is another
//! row-uniform step (which reads only first rows) or a same-width elementwise binary step
//! (which can read one row for every row of its other operand) is left as one row: the copy is
//! skipped and those binary steps broadcast the row ([`RowPlan::lazy`], [`RowPlan::row_args`]).
//! At batch 200 / width 64 that saves a 100 KB write and a 100 KB read per value (the copies
//! were about 5% of a CNF training iteration). Values in the tape, read by the finishing copies,
//! or read by any other kernel are copied as before; so are all of them when a hook (the
//! network JIT) may run steps on the full batch.
//!
//! [`Times::One`]: super::exec::Times::One

use symplode_codegen::plan::{Arena, Finish, Kernel, Len, Plan, Slot};

/// Row-uniformity marks of the columns of the two batched arenas.
#[derive(Default)]
struct Marks {
    scratch: Vec<bool>,
    tape: Vec<bool>,
}

impl Marks {
    fn cols(&mut self, arena: Arena) -> Option<&mut Vec<bool>> {
        match arena {
            Arena::ScratchB => Some(&mut self.scratch),
            Arena::TapeB => Some(&mut self.tape),
            Arena::ScratchG | Arena::TapeG => None,
        }
    }

    /// Whether the value at `slot` is the same in every row.
    fn uniform(&mut self, slot: Slot, len: Len) -> bool {
        if !len.batched() {
            return true;
        }
        match slot {
            Slot::Param(_) | Slot::Const(_) | Slot::Gp(_) => true,
            Slot::X | Slot::Lam | Slot::Aux(_) | Slot::Dx | Slot::Gx => false,
            Slot::Buf(arena, off) => match self.cols(arena) {
                Some(cols) => cols
                    .get(off..off + len.per_row)
                    .is_some_and(|c| c.iter().all(|&u| u)),
                None => true,
            },
        }
    }

    /// Records that `slot` now holds a value that is (or is not) row-uniform.
    fn set(&mut self, slot: Slot, len: Len, uniform: bool) {
        if let Slot::Buf(arena, off) = slot
            && let Some(cols) = self.cols(arena)
        {
            let end = off + len.per_row;
            if cols.len() < end {
                cols.resize(end, false);
            }
            cols[off..end].fill(uniform);
        }
    }
}

/// Whether the kernel computes each row of its batched result from the same row of its batched
/// operands (and unbatched ones) only, so that it can run on one row with the same rounding:
/// products only with an inner dimension of 1 (see the module documentation).
fn row_local(kernel: &Kernel) -> bool {
    match *kernel {
        Kernel::Dense { inp, .. } => inp == 1,
        Kernel::DenseNT { k, .. } | Kernel::DenseNTCols { k, .. } => k == 1,
        _ => elementwise(kernel),
    }
}

/// Elementwise and data-movement kernels that work row by row.
fn elementwise(kernel: &Kernel) -> bool {
    matches!(
        kernel,
        Kernel::Fill(_)
            | Kernel::Time
            | Kernel::BroadcastRows { .. }
            | Kernel::Unary(_)
            | Kernel::TanhGrad
            | Kernel::Binary { .. }
            | Kernel::Scale(_)
            | Kernel::Concat(_)
            | Kernel::Slice { .. }
            | Kernel::SumGroups(_)
            | Kernel::RepeatGroups(_)
    )
}

/// How the steps of one program run when the batch runs at one time (see the module
/// documentation).
#[derive(Clone, Debug, Default)]
pub(crate) struct RowPlan {
    /// Per step: its batched result is row-uniform, computed on the first row.
    pub uniform: Vec<bool>,
    /// Per step: a uniform result left as one row (never copied; no hook may run).
    pub lazy: Vec<bool>,
    /// Per step, bit i: operand i is a lazy value, read as one row for every row (only
    /// same-width [`Kernel::Binary`] steps that are not uniform themselves).
    pub row_args: Vec<u8>,
}

impl RowPlan {
    /// The plan of `plan`'s steps.
    pub fn new(plan: &Plan) -> RowPlan {
        let uniform = uniform_steps(plan);
        let mut lazy = vec![false; uniform.len()];
        let mut row_args = vec![0u8; uniform.len()];
        for (i, step) in plan.steps.iter().enumerate() {
            if uniform[i]
                && let Some(args) = one_row_readers(plan, &uniform, i)
            {
                lazy[i] = true;
                for (j, bit) in args {
                    row_args[j] |= bit;
                }
            }
            debug_assert!(!lazy[i] || step.len.batched());
        }
        RowPlan {
            uniform,
            lazy,
            row_args,
        }
    }
}

/// Columns `[off, off + w)` of the scratch's batched arena, if `slot` is there.
fn scratch_cols(slot: Slot, len: Len) -> Option<(usize, usize)> {
    match slot {
        Slot::Buf(Arena::ScratchB, off) if len.batched() => Some((off, off + len.per_row)),
        _ => None,
    }
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// The readers of step `i`'s result, as (step, operand bit) of the binary steps that would
/// broadcast it, when every reader can take it as one row; `None` when one cannot (or the
/// value is outside the scratch, or read by the finishing copies).
fn one_row_readers(plan: &Plan, uniform: &[bool], i: usize) -> Option<Vec<(usize, u8)>> {
    let out = plan.steps[i].out;
    let cols = scratch_cols(out, plan.steps[i].len)?;
    let mut readers = Vec::new();
    for (j, step) in plan.steps.iter().enumerate().skip(i + 1) {
        for (a, &(slot, len)) in step.args.iter().enumerate() {
            let Some(c) = scratch_cols(slot, len) else {
                continue;
            };
            if !overlaps(c, cols) || uniform[j] {
                continue;
            }
            let Kernel::Binary { wa, wb, .. } = step.kernel else {
                return None;
            };
            // The whole value, same width as the other operand, not the output's buffer.
            if slot != out || c != cols || wa != wb || step.out == slot || a > 1 {
                return None;
            }
            readers.push((j, 1u8 << a));
        }
        if let Some(c) = scratch_cols(step.out, step.len)
            && overlaps(c, cols)
        {
            // Overwritten: later readers see another value (a partial overwrite leaves part
            // of this one live, so it is not taken).
            return (c.0 <= cols.0 && cols.1 <= c.1).then_some(readers);
        }
    }
    let finished = plan.finish.iter().any(|f| match *f {
        Finish::Copy { from, len, .. } => {
            scratch_cols(from, len).is_some_and(|c| overlaps(c, cols))
        }
        Finish::AddGp { .. } => false,
    });
    (!finished).then_some(readers)
}

/// For every step of `plan`: whether, when the batch runs at one time, its (batched) result is
/// row-uniform and may be computed on the first row and copied (see the module documentation).
fn uniform_steps(plan: &Plan) -> Vec<bool> {
    let mut marks = Marks::default();
    plan.steps
        .iter()
        .map(|step| {
            let uniform = step.len.batched()
                && row_local(&step.kernel)
                && step.args.iter().all(|&(s, l)| marks.uniform(s, l));
            marks.set(step.out, step.len, uniform);
            uniform
        })
        .collect()
}
