//! [`JitNetwork`]: an interpreted network whose programs run as JIT-compiled segments.
//!
//! The interpreter's four programs (codegen's [`NetworkPlans`](symplode_codegen::plan::NetworkPlans):
//! eval, VJP, taped forward, taped backward) keep their buffer plans over the caller's
//! scratch and tape. [`plan_segments`] (codegen) turns each maximal run of consecutive steps
//! the JIT handles into one Cranelift function (a *segment*); this module runs them from the
//! interpreter's step hook, with the runtime's GEMM and vectorised `tanh` as callbacks.
//! Steps the JIT does not handle run in the interpreter; the table of what is compiled is in
//! `symplode_codegen::jit`'s `from_plan` module and `docs/jit.md`. The GEMM and `tanh` are
//! the very functions the interpreter calls, with the same views, and the inline loops use
//! the interpreter's expressions in the same order without contraction to fused
//! multiply–add, so results are bit-equal to [`Interpreted`].
//!
//! [`NetworkMode::Chains`] restricts segments to the elementwise chains (the earlier network
//! JIT, kept for comparison).

use symplode_codegen::jit::{
    At, Callbacks, JitOptions, JitReport, JitSegments, MAX_PTRS, NetworkMode, ProgramSegments,
    plan_segments,
};

use super::{JitError, JitReal, ffi};
use crate::dynamics::{Call, Dynamics, ParamTensor, RowWindow};
use crate::interp::{Interpreted, RunMem};

/// An [`Interpreted`] network whose programs run as Cranelift-compiled segments: dense
/// layers call the runtime's GEMM through a function pointer, `tanh` the vectorised
/// runtime `tanh`, and the elementwise work around them (bias rows, activation
/// derivatives, gates, column sums, copies) is inline vector code. Implements [`Dynamics`],
/// so every solver and all five gradient methods can use it; results equal the
/// interpreter's bit for bit. Steps the JIT does not handle run in the interpreter (see the
/// module documentation and `docs/jit.md`, section *Network JIT*).
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
    subst: [ProgramSegments; 4],
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
            plan_segments(&plans.eval, "eval", mode, &mut specs),
            plan_segments(&plans.vjp, "vjp", mode, &mut specs),
            plan_segments(&plans.forward, "forward", mode, &mut specs),
            plan_segments(&plans.backward, "backward", mode, &mut specs),
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

    /// The interpreter's (its tangent system runs interpreted, not compiled).
    fn second_order(&self) -> Option<&dyn crate::second_order::SecondOrder<T>> {
        self.interp.second_order()
    }

    fn scratch_len(&self, batch: usize) -> usize {
        self.interp.scratch_len(batch)
    }

    fn tape_len(&self, batch: usize) -> usize {
        self.interp.tape_len(batch)
    }

    fn eval(&self, t: T, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        self.run(None, Call::Eval { t, x, dx, scratch })
    }

    /// Row by row, each row in its own window of the batch (as `run` runs them).
    fn eval_at(&self, t: &[T], x: &[T], dx: &mut [T], scratch: &mut [T]) {
        self.run(None, Call::EvalAt { t, x, dx, scratch })
    }

    /// Row by row, as [`JitNetwork::eval_at`].
    fn vjp_at(&self, t: &[T], x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        let call = Call::VjpAt {
            t,
            x,
            lam,
            gx,
            gp,
            scratch,
        };
        self.run(None, call)
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
        self.run(None, call)
    }

    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        self.run(None, Call::EvalTaped { t, x, dx, tape })
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
        self.run(None, call)
    }

    /// The interpreter's auxiliary inputs read at the window's rows, as in
    /// [`Interpreted`]'s.
    fn call_rows(&self, window: RowWindow, call: Call<'_, T>) {
        self.run(Some(window), call)
    }
}

impl<T: JitReal> JitNetwork<T> {
    /// Runs `call` on the interpreter with this network's compiled segments offered as the
    /// hook of its program (eval, VJP, taped forward, taped backward), within `window` of the
    /// batch when given. The calls with one time per row run row by row, each row in its own
    /// window (the whole batch's without one), as the trait's default `eval_at` and `vjp_at`
    /// run them: the generated segments take one time.
    fn run(&self, window: Option<RowWindow>, call: Call<'_, T>) {
        let (program, t) = match &call {
            Call::Eval { t, .. } => (0, *t),
            Call::Vjp { t, .. } => (1, *t),
            Call::EvalTaped { t, .. } => (2, *t),
            Call::BackwardTaped { t, .. } => (3, *t),
            Call::EvalAt { .. } | Call::VjpAt { .. } => {
                let dim = self.dim();
                let whole = || RowWindow::whole(call.x().len() / dim.max(1));
                let window = window.unwrap_or_else(whole);
                return call.per_row(dim, window, |w, c| self.run(Some(w), c));
            }
        };
        let hook = &mut |i, m: &RunMem<'_, T>| self.hook(program, i, m, t);
        self.interp.run_call(call, window, Some(hook))
    }
}
