//! Running a compiled program over the caller's buffers.
//!
//! Every value's buffer is a sub-slice of one of the caller's slices (state, cotangent, `dx`,
//! `gx`, `gp`, scratch, tape) or of the model's own (parameters, constants, auxiliary
//! inputs). A step writes its output while reading its operands from other buffers of the
//! same scratch, so slices are made from raw pointers: the plan guarantees that a step's
//! output never overlaps an operand's buffer (an elementwise step that reuses an operand's
//! buffer gets that operand as `None`), and every range is checked against its region.

use super::op_kernels as k;
use symplode_codegen::plan::{Arena, Finish, Kernel, Len, Plan, Slot, Step};

use super::aux::AuxInputs;
use super::uniform::RowPlan;
use crate::linalg::conv2d as c2;
use crate::real::Real;

/// One caller region: pointer, length, writable.
#[derive(Clone, Copy)]
struct Region<T> {
    ptr: *mut T,
    len: usize,
    writable: bool,
}

impl<T> Region<T> {
    fn read(s: &[T]) -> Self {
        Region {
            ptr: s.as_ptr() as *mut T,
            len: s.len(),
            writable: false,
        }
    }

    fn write(s: &mut [T]) -> Self {
        Region {
            ptr: s.as_mut_ptr(),
            len: s.len(),
            writable: true,
        }
    }

    fn none() -> Self {
        Region {
            ptr: std::ptr::NonNull::dangling().as_ptr(),
            len: 0,
            writable: false,
        }
    }
}

/// The buffers of one run.
pub(crate) struct Mem<'a, T> {
    x: Region<T>,
    lam: Region<T>,
    dx: Region<T>,
    gx: Region<T>,
    gp: Region<T>,
    scratch: Region<T>,
    tape: Region<T>,
    params: &'a [T],
    consts: &'a [T],
    aux: &'a AuxInputs<T>,
    /// The row of the auxiliary inputs that row 0 of this run reads (a chunk's first row).
    aux_row0: usize,
    /// Global elements at the start of the scratch.
    scratch_globals: usize,
    /// Global elements at the start of the tape.
    tape_globals: usize,
    batch: usize,
    /// Per step: computed on the first row and copied when the batch runs at one time
    /// ([`super::uniform`]), and which of those stay one row.
    rows: &'a RowPlan,
    _borrow: std::marker::PhantomData<&'a mut [T]>,
}

/// The caller's slices for one run (absent ones empty).
pub(super) struct Buffers<'a, T> {
    pub x: &'a [T],
    pub lam: &'a [T],
    pub dx: &'a mut [T],
    pub gx: &'a mut [T],
    pub gp: &'a mut [T],
    pub scratch: &'a mut [T],
    /// The tape, writable (forward) or read-only (backward).
    pub tape: Tape<'a, T>,
}

/// The tape of a run.
pub(super) enum Tape<'a, T> {
    /// No tape.
    None,
    /// Written by the forward pass.
    Write(&'a mut [T]),
    /// Read by the backward pass.
    Read(&'a [T]),
}

impl<'a, T: Real> Mem<'a, T> {
    /// The run's memory: the caller's slices, the model's own values, and where its rows
    /// start in the auxiliary inputs.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        b: Buffers<'a, T>,
        params: &'a [T],
        consts: &'a [T],
        aux: &'a AuxInputs<T>,
        aux_row0: usize,
        scratch_globals: usize,
        tape_globals: usize,
        batch: usize,
        rows: &'a RowPlan,
    ) -> Self {
        Mem {
            x: Region::read(b.x),
            lam: Region::read(b.lam),
            dx: Region::write(b.dx),
            gx: Region::write(b.gx),
            gp: Region::write(b.gp),
            scratch: Region::write(b.scratch),
            tape: match b.tape {
                Tape::None => Region::none(),
                Tape::Write(t) => Region::write(t),
                Tape::Read(t) => Region::read(t),
            },
            params,
            consts,
            aux,
            aux_row0,
            scratch_globals,
            tape_globals,
            batch,
            rows,
            _borrow: std::marker::PhantomData,
        }
    }

    /// Region and element offset of a slot.
    fn locate(&self, slot: Slot) -> (Region<T>, usize) {
        let b = self.batch;
        match slot {
            Slot::X => (self.x, 0),
            Slot::Lam => (self.lam, 0),
            Slot::Aux(i) => (Region::read(self.aux.from_row(i, self.aux_row0)), 0),
            Slot::Param(off) => (Region::read(self.params), off),
            Slot::Const(off) => (Region::read(self.consts), off),
            Slot::Buf(Arena::ScratchG, off) => (self.scratch, off),
            Slot::Buf(Arena::ScratchB, off) => (self.scratch, self.scratch_globals + off * b),
            Slot::Buf(Arena::TapeG, off) => (self.tape, off),
            Slot::Buf(Arena::TapeB, off) => (self.tape, self.tape_globals + off * b),
            Slot::Dx => (self.dx, 0),
            Slot::Gx => (self.gx, 0),
            Slot::Gp(off) => (self.gp, off),
        }
    }

    fn ptr(&self, slot: Slot, len: Len, write: bool) -> *mut T {
        let n = len.at(self.batch);
        let (r, off) = self.locate(slot);
        assert!(
            off + n <= r.len && (!write || r.writable),
            "interp: buffer {slot:?} of {n} elements at {off} does not fit in {} (writable: {})",
            r.len,
            r.writable
        );
        // SAFETY: `off + n ≤ r.len`, so the offset stays inside the region.
        unsafe { r.ptr.add(off) }
    }

    /// Pointer to the `len.at(batch)` elements of `slot`, checked to fit its region (and
    /// the region to be writable when `write`).
    #[cfg(feature = "jit")]
    pub(crate) fn slot_ptr(&self, slot: Slot, len: Len, write: bool) -> *mut T {
        self.ptr(slot, len, write)
    }

    /// The batch size of this run.
    #[cfg(feature = "jit")]
    pub(crate) fn batch(&self) -> usize {
        self.batch
    }

    /// The operand at `slot`.
    ///
    /// # Safety
    /// No mutable slice overlapping it may be alive while it is.
    unsafe fn get(&self, slot: Slot, len: Len) -> &'a [T] {
        let p = self.ptr(slot, len, false);
        // SAFETY: in bounds (checked by `ptr`); no overlapping `&mut` (caller).
        unsafe { std::slice::from_raw_parts(p, len.at(self.batch)) }
    }

    /// The output at `slot`.
    ///
    /// # Safety
    /// No other slice overlapping it may be alive while it is.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get_mut(&self, slot: Slot, len: Len) -> &'a mut [T] {
        let p = self.ptr(slot, len, true);
        // SAFETY: in bounds and writable (checked by `ptr`); exclusive (caller).
        unsafe { std::slice::from_raw_parts_mut(p, len.at(self.batch)) }
    }
}

/// A hook called before each step with its index: `true` means the hook has done the step
/// (the network JIT runs fused elementwise chains this way), `false` runs it as usual. `None`:
/// every step runs as planned (and row-uniform values may stay one row, [`RowPlan::lazy`]).
pub(crate) type Hook<'h, T> = Option<&'h mut dyn FnMut(usize, &Mem<'_, T>) -> bool>;

/// The time a program runs at: one for the whole batch, or one per row (per-sample steps).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Times<'t, T> {
    /// Every row at this time.
    One(T),
    /// Row r at `t[r]`.
    Rows(&'t [T]),
}

/// Runs `prog` at time `t`, offering every step to `hook` first (none: the program as
/// planned).
pub(super) fn run_hooked<T: Real>(
    prog: &Plan,
    mem: &Mem<'_, T>,
    t: Times<'_, T>,
    mut hook: Hook<'_, T>,
) {
    let batch = mem.batch;
    let one_time = matches!(t, Times::One(_));
    // Row-uniform values may stay one row only when every step runs here.
    let one_row = one_time && batch > 1 && hook.is_none();
    for (index, step) in prog.steps.iter().enumerate() {
        if let Some(h) = hook.as_mut()
            && h(index, mem)
        {
            continue;
        }
        // SAFETY (for every `get`/`get_mut` below): the plan never gives a step an operand
        // whose buffer overlaps the output's, except an elementwise operand in the very
        // same buffer, which is passed as `None` and read through the output slice.
        let y = unsafe { mem.get_mut(step.out, step.len) };
        let uniform = one_time && batch > 1 && mem.rows.uniform.get(index) == Some(&true);
        if uniform {
            // The first row from the first rows of the operands, then copied (see
            // `super::uniform`): every batched operand is row-uniform.
            let w = step.len.per_row;
            let arg = |i: usize| -> Option<&[T]> {
                let (s, l) = step.args[i];
                if s == step.out {
                    None
                } else {
                    let full = unsafe { mem.get(s, l) };
                    Some(if l.batched() {
                        &full[..l.per_row]
                    } else {
                        full
                    })
                }
            };
            let (first, rest) = y.split_at_mut(w);
            run_step(StepRun {
                step,
                mem,
                y: first,
                arg: &arg,
                batch: 1,
                t,
                row_args: 0,
            });
            if !(one_row && mem.rows.lazy[index]) {
                for row in rest.chunks_exact_mut(w) {
                    row.copy_from_slice(first);
                }
            }
            continue;
        }
        // Operands that are row-uniform values kept as one row (broadcast by the kernel).
        let row_args = if one_row { mem.rows.row_args[index] } else { 0 };
        let arg = |i: usize| -> Option<&[T]> {
            let (s, l) = step.args[i];
            if s == step.out {
                None
            } else {
                Some(unsafe { mem.get(s, l) })
            }
        };
        run_step(StepRun {
            step,
            mem,
            y,
            arg: &arg,
            batch,
            t,
            row_args,
        });
    }
    for f in &prog.finish {
        match *f {
            Finish::Copy { from, to, len } => {
                // SAFETY: outputs (`dx`, `gx`) are caller slices distinct from every source.
                let (src, dst) = unsafe { (mem.get(from, len), mem.get_mut(to, len)) };
                dst.copy_from_slice(src);
            }
            Finish::AddGp { from, off, n } => {
                let len = Len {
                    per_row: 0,
                    fixed: n,
                };
                // SAFETY: `gp` is a caller slice distinct from every source.
                let (src, dst) = unsafe { (mem.get(from, len), mem.get_mut(Slot::Gp(off), len)) };
                k::add_into(dst, src);
            }
        }
    }
}

/// Runs one step's kernel (output `y`, operands from `arg`, `None`: the output's own buffer,
/// `batch` rows) with [`widest`](crate::linalg::simd::widest): its elementwise loops compiled
/// for the widest SIMD level in effect, the same bits on every path.
fn run_step<T: Real>(step: StepRun<'_, '_, '_, T>) {
    crate::linalg::simd::widest(step);
}

/// The arguments of one [`run_step`].
struct StepRun<'r, 's, 'm, T> {
    step: &'r Step,
    mem: &'r Mem<'m, T>,
    y: &'r mut [T],
    arg: &'r dyn Fn(usize) -> Option<&'s [T]>,
    batch: usize,
    t: Times<'r, T>,
    /// Bit i: operand i is one row read for every row ([`RowPlan::row_args`]).
    row_args: u8,
}

impl<T: Real> crate::linalg::simd::Widened for StepRun<'_, '_, '_, T> {
    type Output = ();
    /// The step's kernel, inlined into each SIMD level's instance.
    #[inline(always)]
    fn run(self) {
        let StepRun {
            step,
            mem,
            y,
            arg,
            batch,
            t,
            row_args,
        } = self;
        let a = |i: usize| arg(i).unwrap_or(&[]);
        match &step.kernel {
            Kernel::Fill(v) => y.fill(T::of(*v)),
            Kernel::Time => match t {
                Times::One(t) => y.fill(t),
                Times::Rows(ts) => {
                    let w = (y.len() / batch.max(1)).max(1);
                    for (row, &tr) in y.chunks_exact_mut(w).zip(ts) {
                        row.fill(tr);
                    }
                }
            },
            Kernel::Dense { inp, out } => {
                let b = (step.args.len() > 2).then(|| a(2));
                k::dense(y, a(0), a(1), b, batch, *inp, *out);
            }
            Kernel::DenseTime { k: kk, out } => match t {
                Times::One(t) => k::dense_time(y, a(0), a(1), a(2), t, batch, *kk, *out),
                Times::Rows(ts) => k::dense_time_rows(y, a(0), a(1), a(2), ts, batch, *kk, *out),
            },
            Kernel::DenseNT { k: kk, m } => k::dense_nt(y, a(0), a(1), batch, *kk, *m),
            Kernel::DenseNTCols { k: kk, m, cols } => {
                k::dense_nt_cols(y, a(0), a(1), batch, *kk, *m, *cols)
            }
            Kernel::BatchOuterTime { p, k: kk, acc } => match t {
                Times::One(t) => k::batch_outer_time(y, a(0), a(1), t, batch, *p, *kk, *acc),
                Times::Rows(ts) => {
                    k::batch_outer_time_rows(y, a(0), a(1), ts, batch, *p, *kk, *acc)
                }
            },
            Kernel::BatchOuter { p, q, acc } => k::batch_outer(y, a(0), a(1), batch, *p, *q, *acc),
            Kernel::BatchSum { w, acc } => k::batch_sum(y, a(0), *w, *acc),
            Kernel::BroadcastRows { w } => k::broadcast_rows(y, a(0), *w),
            Kernel::Unary(op) => k::unary(*op, y, arg(0)),
            Kernel::TanhGrad => k::tanh_grad(y, arg(0), arg(1)),
            Kernel::Binary { op, wa, .. } if row_args != 0 => {
                // One operand is a row-uniform value kept as one row (`RowPlan`: never the
                // output's buffer; the other one may be).
                let row_left = row_args & 1 != 0;
                let (row, wide) = if row_left {
                    (a(0), arg(1))
                } else {
                    (a(1), arg(0))
                };
                k::binary_row(*op, y, wide, &row[..*wa], row_left);
            }
            Kernel::Binary { op, wa, wb } => k::binary(*op, y, arg(0), arg(1), *wa, *wb),
            Kernel::Scale(c) => k::scale(y, arg(0), *c),
            Kernel::Concat(widths) => {
                let w: usize = widths.iter().sum();
                let mut at = 0;
                for (i, &pw) in widths.iter().enumerate() {
                    k::concat_part(y, a(i), w, at, pw);
                    at += pw;
                }
            }
            Kernel::Slice { w, start, len } => k::slice(y, a(0), *w, *start, *len),
            Kernel::SumGroups(size) => k::sum_groups(y, a(0), *size),
            Kernel::RepeatGroups(size) => k::repeat_groups(y, a(0), *size),
            Kernel::Stencil { coeffs, n } => k::stencil(y, a(0), coeffs, *n),
            Kernel::Conv1d(shape) => {
                let b = (step.args.len() > 2).then(|| a(2));
                k::conv1d(y, a(0), a(1), b, shape, batch);
            }
            Kernel::Conv1dT(shape) => k::conv1d_t(y, a(0), a(1), shape, batch),
            Kernel::Conv1dWGrad { shape, acc } => {
                k::conv1d_wgrad(y, a(0), a(1), shape, batch, *acc)
            }
            Kernel::Conv2d { shape, cols } => {
                let b = (step.args.len() > 2).then(|| a(2));
                // SAFETY: the plan gives the im2col scratch a buffer of its own for this step.
                let cols = unsafe { mem.get_mut(*cols, fixed_len(shape.cols_len())) };
                c2::conv2d(y, a(0), a(1), b, cols, shape, batch);
            }
            Kernel::Conv2dT { shape, cols } => {
                // SAFETY: as above.
                let cols = unsafe { mem.get_mut(*cols, fixed_len(shape.cols_len())) };
                c2::conv2d_t(y, a(0), a(1), cols, shape, batch);
            }
            Kernel::Conv2dWGrad { shape, cols, acc } => {
                // SAFETY: as above.
                let cols = unsafe { mem.get_mut(*cols, fixed_len(shape.cols_len())) };
                c2::conv2d_wgrad(y, a(0), a(1), cols, shape, batch, *acc);
            }
            Kernel::Squeeze(s) => c2::squeeze(y, a(0), s.c, s.h, s.w, false),
            Kernel::Unsqueeze(s) => c2::squeeze(y, a(0), s.c, s.h, s.w, true),
        }
    }
}

/// The length of a global buffer of `n` elements.
fn fixed_len(n: usize) -> Len {
    Len {
        per_row: 0,
        fixed: n,
    }
}
