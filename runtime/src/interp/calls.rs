//! The [`Dynamics`] methods of [`Interpreted`]: each call's lengths checked, its auxiliary
//! inputs checked for its batch (or for the batch its row window was cut from), its slices laid
//! out as the program's buffers, and one run of the program ([`Interpreted::run_call`]).

use super::exec::{Buffers, Hook, Mem, Tape, Times, run_hooked};
use super::{Interpreted, SecondOrder};
use crate::dynamics::{Call, Dynamics, ParamTensor, RowWindow};
use crate::real::Real;

/// NaN, the marker of an evaluation that could not run (missing auxiliary input).
fn fail<T: Real>(outs: &mut [&mut [T]]) {
    for o in outs {
        o.fill(T::nan());
    }
}

/// `‖buffer‖ ≥ need`, the caller's contract (see [`Dynamics`]).
fn check_len(what: &str, got: usize, need: usize) {
    assert!(
        got >= need,
        "interp: {what} has {got} elements, {need} are needed"
    );
}

impl<T: Real> Dynamics<T> for Interpreted<T> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn params(&self) -> &[T] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [T] {
        &mut self.params
    }

    fn param_tensors(&self) -> Vec<ParamTensor> {
        self.tensors.clone()
    }

    fn scratch_len(&self, batch: usize) -> usize {
        let p = &self.plans;
        p.eval
            .arena_len(batch)
            .max(p.vjp.arena_len(batch))
            .max(p.backward.arena_len(batch))
    }

    fn tape_len(&self, batch: usize) -> usize {
        self.plans.forward.arena_len(batch)
    }

    fn eval(&self, t: T, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        self.run_call(Call::Eval { t, x, dx, scratch }, None, None)
    }

    fn eval_at(&self, t: &[T], x: &[T], dx: &mut [T], scratch: &mut [T]) {
        self.run_call(Call::EvalAt { t, x, dx, scratch }, None, None)
    }

    fn vjp(&self, t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        let call = Call::Vjp {
            t,
            x,
            lam,
            gx,
            gp,
            scratch,
        };
        self.run_call(call, None, None)
    }

    fn vjp_at(&self, t: &[T], x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        let call = Call::VjpAt {
            t,
            x,
            lam,
            gx,
            gp,
            scratch,
        };
        self.run_call(call, None, None)
    }

    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        self.run_call(Call::EvalTaped { t, x, dx, tape }, None, None)
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
        let call = Call::BackwardTaped {
            t,
            x,
            tape,
            lam,
            gx,
            gp,
            scratch,
        };
        self.run_call(call, None, None)
    }

    fn second_order(&self) -> Option<&dyn SecondOrder<T>> {
        Some(self)
    }

    /// The auxiliary inputs are read at the window's rows; they must be set for its total.
    fn call_rows(&self, window: RowWindow, call: Call<'_, T>) {
        self.run_call(call, Some(window), None)
    }
}

impl<T: Real> Interpreted<T> {
    /// Runs `call` with `hook` offered every step: the eval program for [`Call::Eval`] and
    /// [`Call::EvalAt`], the VJP program for the VJPs, the taped forward and backward programs
    /// for the taped calls. The auxiliary inputs are read from row `window.start` on and must
    /// be set for `window.total` rows (without a window: from row 0, for the call's batch);
    /// when they are not, or when the window is a part of the batch and the graph's rows are
    /// coupled, the outputs (`dx`, or `gx` and `gp`) are filled with NaN.
    ///
    /// # Panics
    /// A slice is shorter than the [`Dynamics`] contract asks (the caller's bug, not user
    /// input: the solvers size every buffer).
    pub(crate) fn run_call(&self, call: Call<'_, T>, window: Option<RowWindow>, hook: Hook<'_, T>) {
        let batch = call.x().len() / self.dim;
        let n = batch * self.dim;
        if batch == 0 {
            return;
        }
        let plans = &self.plans;
        let (program, times, b) = match call {
            Call::Eval { t, x, dx, scratch } => {
                check_len("dx", dx.len(), n);
                check_len("scratch", scratch.len(), plans.eval.arena_len(batch));
                (
                    0,
                    Times::One(t),
                    eval_buffers(&x[..n], &mut dx[..n], scratch),
                )
            }
            Call::EvalAt { t, x, dx, scratch } => {
                check_len("t", t.len(), batch);
                check_len("dx", dx.len(), n);
                check_len("scratch", scratch.len(), plans.eval.arena_len(batch));
                (
                    0,
                    Times::Rows(t),
                    eval_buffers(&x[..n], &mut dx[..n], scratch),
                )
            }
            Call::Vjp {
                t,
                x,
                lam,
                gx,
                gp,
                scratch,
            } => {
                self.check_vjp(n, lam, gx, gp);
                check_len("scratch", scratch.len(), plans.vjp.arena_len(batch));
                let b = vjp_buffers(&x[..n], &lam[..n], &mut gx[..n], gp, scratch, Tape::None);
                (1, Times::One(t), b)
            }
            Call::VjpAt {
                t,
                x,
                lam,
                gx,
                gp,
                scratch,
            } => {
                check_len("t", t.len(), batch);
                self.check_vjp(n, lam, gx, gp);
                check_len("scratch", scratch.len(), plans.vjp.arena_len(batch));
                let b = vjp_buffers(&x[..n], &lam[..n], &mut gx[..n], gp, scratch, Tape::None);
                (1, Times::Rows(t), b)
            }
            Call::EvalTaped { t, x, dx, tape } => {
                check_len("dx", dx.len(), n);
                check_len("tape", tape.len(), self.tape_len(batch));
                let mut b = eval_buffers(&x[..n], &mut dx[..n], &mut []);
                b.tape = Tape::Write(tape);
                (2, Times::One(t), b)
            }
            Call::BackwardTaped {
                t,
                x,
                tape,
                lam,
                gx,
                gp,
                scratch,
            } => {
                self.check_vjp(n, lam, gx, gp);
                check_len("tape", tape.len(), self.tape_len(batch));
                check_len("scratch", scratch.len(), plans.backward.arena_len(batch));
                let tape = Tape::Read(tape);
                let b = vjp_buffers(&x[..n], &lam[..n], &mut gx[..n], gp, scratch, tape);
                (3, Times::One(t), b)
            }
        };
        let prog = plans.all()[program];
        let part = window.is_some_and(|w| batch < w.total);
        if (part && !self.rows_independent) || !self.aux.ready_in(&prog.aux_used, batch, window) {
            return fail(&mut [b.dx, b.gx, b.gp]);
        }
        let mem = Mem::new(
            b,
            &self.params,
            &self.consts[program],
            &self.aux,
            window.map_or(0, |w| w.start),
            prog.globals,
            plans.tape_globals(),
            batch,
            &self.uniform[program],
        );
        run_hooked(prog, &mem, times, hook);
    }

    /// The lengths of a VJP's `lam`, `gx` (`n` elements each) and `gp` (every parameter).
    fn check_vjp(&self, n: usize, lam: &[T], gx: &[T], gp: &[T]) {
        check_len("lam", lam.len(), n);
        check_len("gx", gx.len(), n);
        check_len("gp", gp.len(), self.params.len());
    }
}

/// The buffers of an evaluation: `x` in, `dx` out, no tape.
fn eval_buffers<'a, T>(x: &'a [T], dx: &'a mut [T], scratch: &'a mut [T]) -> Buffers<'a, T> {
    Buffers {
        x,
        lam: &[],
        dx,
        gx: &mut [],
        gp: &mut [],
        scratch,
        tape: Tape::None,
    }
}

/// The buffers of a VJP: `x` and `lam` in, `gx` and `gp` out.
fn vjp_buffers<'a, T>(
    x: &'a [T],
    lam: &'a [T],
    gx: &'a mut [T],
    gp: &'a mut [T],
    scratch: &'a mut [T],
    tape: Tape<'a, T>,
) -> Buffers<'a, T> {
    Buffers {
        x,
        lam,
        dx: &mut [],
        gx,
        gp,
        scratch,
        tape,
    }
}
