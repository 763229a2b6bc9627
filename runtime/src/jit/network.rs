//! [`JitNetwork`]: an interpreted network whose elementwise chains run as JIT-compiled loops.
//!
//! The interpreter's four programs (eval, VJP, taped forward, taped backward) keep their
//! buffer plans over the caller's scratch and tape. Each maximal run of consecutive
//! elementwise steps with one element count (negation, square, reciprocal, ReLU, scaling,
//! same-shape add/sub/mul/div and the fused `tanh` derivative `g·(1 − y²)`) becomes one
//! Cranelift function over raw pointers ([`JitFused`]): vectorised (`f64x2` / `f32x4`,
//! unrolled, scalar tail), values passed between the steps of a chain in registers, and
//! stores of intermediate scratch values that nothing after the chain reads dropped. Every
//! other step — dense layers on [`crate::models::matmul`], `tanh` on the vectorised
//! [`Real::tanh_slice`](crate::real::Real), reductions, concatenations, convolutions — runs
//! exactly as in the interpreter. The chains use the interpreter's expressions without
//! contraction to fused multiply–add, so results are bit-equal to [`Interpreted`].
//!
//! Two steps join a chain only if each buffer one of them writes either is the very same
//! buffer as, or does not overlap, every buffer the other touches (so processing element by
//! element equals processing step by step), and a chain touches at most 16 buffers (the
//! pointer array lives on the stack: an evaluation allocates nothing).

use symplode_codegen::ir::{BinaryOp, UnaryOp};
use symplode_codegen::jit::{FusedOp, FusedSpec, FusedStep, JitFused, JitOptions, JitReport};

use super::{JitError, JitReal};
use crate::dynamics::{Dynamics, ParamTensor};
use crate::interp::{Arena, Finish, Interpreted, Kernel, Len, Plan, PlanSlot as Slot, RunMem};

/// Most buffers one chain touches.
const MAX_PTRS: usize = 16;

/// What the hook does at a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// Run by the interpreter.
    Interp,
    /// First step of chain `i`: run it.
    Run(usize),
    /// Inside a chain already run.
    Skip,
}

/// Buffers a chain touches: slot, element count, written.
type Touched = Vec<(Slot, Len, bool)>;

/// A chain's buffers: slot, element count, written.
#[derive(Clone, Debug)]
struct Chain {
    kernel: usize,
    len: Len,
    slots: Touched,
}

/// The substitution for one program.
#[derive(Clone, Debug, Default)]
struct Subst {
    at: Vec<At>,
    chains: Vec<Chain>,
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

/// Splits `prog` into chains; appends their specs to `specs`.
fn plan_chains<T>(prog: &Plan<T>, tag: &str, specs: &mut Vec<FusedSpec>) -> Subst {
    let steps = &prog.steps;
    let mut sub = Subst {
        at: vec![At::Interp; steps.len()],
        chains: Vec::new(),
    };
    // Candidate chains as step ranges.
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut cur: Option<(usize, Touched)> = None;
    for (i, s) in steps.iter().enumerate() {
        let ok = fusable(&s.kernel).is_some_and(|op| {
            s.args.len() == op.arity() && s.args.iter().all(|&(_, l)| l == s.len)
        });
        if !ok {
            if let Some((start, _)) = cur.take() {
                ranges.push((start, i));
            }
            continue;
        }
        let mine: Touched = s
            .args
            .iter()
            .map(|&(sl, l)| (sl, l, false))
            .chain([(s.out, s.len, true)])
            .collect();
        let joins = |touched: &Touched| {
            let first = touched[0];
            if first.1 != s.len {
                return false;
            }
            let mut distinct: Vec<Slot> = touched.iter().map(|t| t.0).collect();
            for &(a, la, wa) in &mine {
                for &(b, lb, wb) in touched {
                    if (wa || wb) && a != b && overlap((a, la), (b, lb)) {
                        return false;
                    }
                }
                if !distinct.contains(&a) {
                    distinct.push(a);
                }
            }
            distinct.len() <= MAX_PTRS
        };
        match &mut cur {
            Some((_, touched)) if joins(touched) => touched.extend(mine),
            _ => {
                if let Some((start, _)) = cur.take() {
                    ranges.push((start, i));
                }
                cur = Some((i, mine));
            }
        }
    }
    if let Some((start, _)) = cur.take() {
        ranges.push((start, steps.len()));
    }
    for (start, end) in ranges {
        let mut slots: Touched = Vec::new();
        let index = |slots: &mut Touched, sl: Slot, l: Len| -> usize {
            match slots.iter().position(|t| t.0 == sl) {
                Some(p) => p,
                None => {
                    slots.push((sl, l, false));
                    slots.len() - 1
                }
            }
        };
        // Whether anything after the chain may read (a buffer overlapping) `slot`.
        let read_later = |slot: Slot, len: Len| {
            steps[end..]
                .iter()
                .flat_map(|s| s.args.iter())
                .any(|&(a, la)| overlap((a, la), (slot, len)))
                || prog.finish.iter().any(|f| match *f {
                    Finish::Copy { from, len: lf, .. } => overlap((from, lf), (slot, len)),
                    Finish::AddGp { from, n, .. } => overlap(
                        (
                            from,
                            Len {
                                per_row: 0,
                                fixed: n,
                            },
                        ),
                        (slot, len),
                    ),
                })
        };
        let mut fsteps = Vec::new();
        for s in &steps[start..end] {
            let op = fusable(&s.kernel).expect("fusable step");
            let args = s
                .args
                .iter()
                .map(|&(a, l)| index(&mut slots, a, l))
                .collect();
            let out = index(&mut slots, s.out, s.len);
            let scratch = matches!(s.out, Slot::Buf(Arena::ScratchG | Arena::ScratchB, _));
            let store = !scratch || read_later(s.out, s.len);
            fsteps.push(FusedStep {
                op,
                args,
                out,
                store,
            });
        }
        // Mark the slots the chain stores to (their pointers must be writable).
        for f in &fsteps {
            if f.store {
                slots[f.out].2 = true;
            }
        }
        let k = specs.len();
        specs.push(FusedSpec {
            name: format!("{tag}_chain_{}", sub.chains.len()),
            ptrs: slots.len(),
            steps: fsteps,
        });
        sub.at[start] = At::Run(sub.chains.len());
        for a in &mut sub.at[start + 1..end] {
            *a = At::Skip;
        }
        sub.chains.push(Chain {
            kernel: k,
            len: steps[start].len,
            slots,
        });
    }
    sub
}

/// An [`Interpreted`] network whose elementwise chains run as Cranelift-compiled loops.
/// Implements [`Dynamics`], so every solver and all five gradient methods can use it;
/// results equal the interpreter's bit for bit.
///
/// The interpreter's four programs keep their buffer plans; each maximal run of consecutive
/// elementwise steps with one element count (negation, square, reciprocal, ReLU, scaling,
/// same-shape add/sub/mul/div, the fused `tanh` derivative `g·(1 − y²)`) runs as one
/// vectorised function, values passed between its steps in registers; dense layers (on
/// [`crate::models::matmul`]), `tanh` and every other step run as in the interpreter. See
/// `docs/jit.md` (section *Network JIT*).
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
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct JitNetwork<T: JitReal> {
    interp: Interpreted<T>,
    subst: [Subst; 4],
    fused: JitFused<T>,
}

impl<T: JitReal> JitNetwork<T> {
    /// Compiles the elementwise chains of `interp`'s programs.
    ///
    /// # Errors
    /// A Cranelift error (or a verifier rejection, an internal bug).
    pub fn new(interp: Interpreted<T>, opts: &JitOptions) -> Result<Self, JitError> {
        let mut specs = Vec::new();
        let plans = interp.plans();
        let subst = [
            plan_chains(plans[0], "eval", &mut specs),
            plan_chains(plans[1], "vjp", &mut specs),
            plan_chains(plans[2], "forward", &mut specs),
            plan_chains(plans[3], "backward", &mut specs),
        ];
        let fused = JitFused::compile(&specs, opts)?;
        Ok(JitNetwork {
            interp,
            subst,
            fused,
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

    /// What was compiled (one function per chain).
    pub fn report(&self) -> &JitReport {
        self.fused.report()
    }

    /// Number of chains in the eval, VJP, taped forward and taped backward programs.
    pub fn chains(&self) -> [usize; 4] {
        [0, 1, 2, 3].map(|i| self.subst[i].chains.len())
    }

    /// Number of interpreter steps replaced by chains in each program.
    pub fn fused_steps(&self) -> [usize; 4] {
        [0, 1, 2, 3].map(|i| {
            self.subst[i]
                .at
                .iter()
                .filter(|a| **a != At::Interp)
                .count()
        })
    }

    /// The hook of program `p`.
    fn hook(&self, p: usize, index: usize, mem: &RunMem<'_, T>) -> bool {
        match self.subst[p].at[index] {
            At::Interp => false,
            At::Skip => true,
            At::Run(c) => {
                let chain = &self.subst[p].chains[c];
                let mut ptrs = [std::ptr::null_mut::<T>(); MAX_PTRS];
                for (p, &(slot, len, write)) in ptrs.iter_mut().zip(&chain.slots) {
                    // Checked to fit its region (and be writable when written).
                    *p = mem.slot_ptr(slot, len, write);
                }
                let n = chain.len.at(mem.batch());
                let k = &self.fused.kernels()[chain.kernel];
                // SAFETY: every pointer was checked by `slot_ptr` to address `n` elements of
                // its caller or model buffer (writable where the chain stores); two slots of
                // a chain are either equal or do not overlap (`plan_chains`), and no Rust
                // reference to the written buffers is alive during the call (the
                // interpreter makes its slices per step, after the hook returns).
                unsafe { k.call(&ptrs[..chain.slots.len()], n) };
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
            .eval_hooked(t, x, dx, scratch, &mut |i, m| self.hook(0, i, m))
    }

    fn vjp(&self, t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        self.interp
            .vjp_hooked(t, x, lam, gx, gp, scratch, &mut |i, m| self.hook(1, i, m))
    }

    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        self.interp
            .eval_taped_hooked(t, x, dx, tape, &mut |i, m| self.hook(2, i, m))
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
                self.hook(3, i, m)
            })
    }
}
