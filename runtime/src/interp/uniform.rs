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
//! [`Times::One`]: super::exec::Times::One

use symplode_codegen::plan::{Arena, Kernel, Len, Plan, Slot};

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

/// For every step of `plan`: whether, when the batch runs at one time, its (batched) result is
/// row-uniform and may be computed on the first row and copied (see the module documentation).
pub(crate) fn uniform_steps(plan: &Plan) -> Vec<bool> {
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
