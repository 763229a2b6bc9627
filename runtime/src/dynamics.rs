//! The `Dynamics` trait: a batched right-hand side f(x, t; θ) with its vector–Jacobian products.

use crate::real::Real;

/// One named parameter tensor inside a model's flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamTensor {
    /// Name, e.g. `"layers.0.weight"` (PyTorch `state_dict` style).
    pub name: String,
    /// Shape, row-major (PyTorch `nn.Linear` layout: weight `[out, in]`, bias `[out]`).
    pub shape: Vec<usize>,
    /// Offset of the first element in the flat parameter vector.
    pub offset: usize,
}

impl ParamTensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The element range in the flat parameter vector.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// A batched ODE right-hand side `dx/dt = f(x, t; θ)`.
///
/// States are row-major `[batch, dim]` slices (rows = samples); the batch size is
/// `x.len() / dim()`. The parameters θ live inside the model as one flat vector (see
/// [`Dynamics::params`]); gradients with respect to θ use the same layout.
///
/// Memory contract, which the gradient methods' byte accounting relies on:
/// - [`Dynamics::eval`] and [`Dynamics::vjp`] use only the caller's `scratch` buffer
///   (`scratch_len(batch)` elements): one evaluation's activations, "L" in the paper's table.
///   They must not allocate on the heap.
/// - [`Dynamics::eval_taped`] stores what the backward pass needs in `tape`
///   (`tape_len(batch)` elements) and [`Dynamics::backward_taped`] reads it back; the methods
///   that keep graphs (backprop, checkpointing) hold one tape per stage evaluation.
///
/// Callers guarantee slice lengths (the solvers check user input before calling); an
/// implementation may `debug_assert!` them.
pub trait Dynamics<T: Real>: Send + Sync {
    /// State dimension d (features per sample).
    fn dim(&self) -> usize;
    /// The flat parameter vector θ.
    fn params(&self) -> &[T];
    /// The flat parameter vector θ, mutable (for optimisers and finite differences).
    fn params_mut(&mut self) -> &mut [T];
    /// The named tensors that make up θ, in order, covering it exactly.
    fn param_tensors(&self) -> Vec<ParamTensor>;
    /// Scratch elements needed by `eval` and `vjp` at this batch size.
    fn scratch_len(&self, batch: usize) -> usize;
    /// Tape elements stored by one `eval_taped` at this batch size.
    fn tape_len(&self, batch: usize) -> usize;
    /// `dx = f(x, t)`.
    fn eval(&self, t: T, x: &[T], dx: &mut [T], scratch: &mut [T]);
    /// `dx = f(x, t)` with one time per sample: row r is evaluated at `t[r]` (`t.len()` is the
    /// batch). Per-sample adaptive stepping ([`Stepping::per_sample`](crate::Stepping::per_sample))
    /// evaluates all still-active samples at their own times through this method.
    ///
    /// The default evaluates row by row with [`Dynamics::eval`] (batch 1, so `scratch` needs
    /// `scratch_len(1)` elements, no more than `scratch_len(batch)`); batched models override it
    /// so the rows stay one batched evaluation (the MLP's time column, the IR's per-sample time
    /// input). Rows must not interact (row r of `dx` depends on row r of `x` and `t[r]` only).
    fn eval_at(&self, t: &[T], x: &[T], dx: &mut [T], scratch: &mut [T]) {
        let d = self.dim();
        if d == 0 {
            return;
        }
        let whole = RowWindow::whole(x.len() / d);
        Call::EvalAt { t, x, dx, scratch }.per_row(d, whole, |_, row| row.run(self));
    }
    /// Vector–Jacobian product at (x, t), recomputing the activations itself:
    /// `gx = λᵀ ∂f/∂x` (overwritten) and `gp += λᵀ ∂f/∂θ` (accumulated).
    fn vjp(&self, t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]);
    /// [`Dynamics::vjp`] with one time per sample: row r at `t[r]`; `gx` rows overwritten,
    /// `gp += Σ_r λ_rᵀ ∂f/∂θ(x_r, t[r])` accumulated over the rows. The default runs row by
    /// row ([`Dynamics::vjp`] at batch 1); batched models override it (see
    /// [`Dynamics::eval_at`]).
    fn vjp_at(&self, t: &[T], x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        let d = self.dim();
        if d == 0 {
            return;
        }
        let whole = RowWindow::whole(x.len() / d);
        let call = Call::VjpAt {
            t,
            x,
            lam,
            gx,
            gp,
            scratch,
        };
        call.per_row(d, whole, |_, row| row.run(self));
    }
    /// `dx = f(x, t)`, storing what the backward pass needs in `tape`.
    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], tape: &mut [T]);
    /// The VJP of a taped evaluation at the same (x, t): `gx = λᵀ ∂f/∂x` (overwritten),
    /// `gp += λᵀ ∂f/∂θ` (accumulated). `scratch` has `scratch_len(batch)` elements.
    fn backward_taped(
        &self,
        t: T,
        x: &[T],
        tape: &[T],
        lam: &[T],
        gx: &mut [T],
        gp: &mut [T],
        scratch: &mut [T],
    );
    /// Number of parameters (length of [`Dynamics::params`]).
    fn n_params(&self) -> usize {
        self.params().len()
    }
    /// The model's second-order capability (its tangent system, for Hessian-vector
    /// products), or `None` when it has none (the default).
    fn second_order(&self) -> Option<&dyn crate::second_order::SecondOrder<T>> {
        None
    }
    /// Runs `call` on a sub-batch: its rows are rows `window.start..` of a batch of
    /// `window.total` rows. Batch splitters ([`crate::parallel::Chunked`]) run every chunk
    /// through this method.
    ///
    /// Only a model whose rows read per-sample data it holds itself needs the window: the
    /// [interpreter](crate::interp)'s auxiliary inputs, such as a CNF's Hutchinson noise, are
    /// set for the whole batch, and chunk rows must read their own rows of them. The default
    /// runs the plain method, which is right for every model whose row r depends on row r of
    /// its arguments only. A wrapper that forwards its methods to an inner model should forward
    /// this one too. (A model `neural_ode!` generates that reads auxiliary inputs returns NaN
    /// for a part of the batch: its generated code reads them from row 0.)
    fn call_rows(&self, window: RowWindow, call: Call<'_, T>) {
        let _ = window;
        call.run(self)
    }
}

/// Where a sub-batch lies in the batch it was cut from: its rows are rows
/// `start..start + rows` of a batch of `total` rows, `rows` being the sub-batch's own size
/// (see [`Dynamics::call_rows`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowWindow {
    /// The sub-batch's first row in the whole batch.
    pub start: usize,
    /// Rows of the whole batch.
    pub total: usize,
}

impl RowWindow {
    /// The whole batch of `rows` rows.
    pub fn whole(rows: usize) -> Self {
        RowWindow {
            start: 0,
            total: rows,
        }
    }
}

/// One call of a [`Dynamics`] method with its arguments, for [`Dynamics::call_rows`]. The
/// fields are the method's arguments, with the same names and contracts.
#[allow(missing_docs)] // each field is the argument of the same name of the method named.
pub enum Call<'a, T> {
    /// [`Dynamics::eval`].
    Eval {
        t: T,
        x: &'a [T],
        dx: &'a mut [T],
        scratch: &'a mut [T],
    },
    /// [`Dynamics::eval_at`].
    EvalAt {
        t: &'a [T],
        x: &'a [T],
        dx: &'a mut [T],
        scratch: &'a mut [T],
    },
    /// [`Dynamics::vjp`].
    Vjp {
        t: T,
        x: &'a [T],
        lam: &'a [T],
        gx: &'a mut [T],
        gp: &'a mut [T],
        scratch: &'a mut [T],
    },
    /// [`Dynamics::vjp_at`].
    VjpAt {
        t: &'a [T],
        x: &'a [T],
        lam: &'a [T],
        gx: &'a mut [T],
        gp: &'a mut [T],
        scratch: &'a mut [T],
    },
    /// [`Dynamics::eval_taped`].
    EvalTaped {
        t: T,
        x: &'a [T],
        dx: &'a mut [T],
        tape: &'a mut [T],
    },
    /// [`Dynamics::backward_taped`].
    BackwardTaped {
        t: T,
        x: &'a [T],
        tape: &'a [T],
        lam: &'a [T],
        gx: &'a mut [T],
        gp: &'a mut [T],
        scratch: &'a mut [T],
    },
}

impl<T: Real> Call<'_, T> {
    /// Runs the call as the plain method of `d` (on the whole batch of its arguments).
    pub fn run<D: Dynamics<T> + ?Sized>(self, d: &D) {
        match self {
            Call::Eval { t, x, dx, scratch } => d.eval(t, x, dx, scratch),
            Call::EvalAt { t, x, dx, scratch } => d.eval_at(t, x, dx, scratch),
            Call::Vjp {
                t,
                x,
                lam,
                gx,
                gp,
                scratch,
            } => d.vjp(t, x, lam, gx, gp, scratch),
            Call::VjpAt {
                t,
                x,
                lam,
                gx,
                gp,
                scratch,
            } => d.vjp_at(t, x, lam, gx, gp, scratch),
            Call::EvalTaped { t, x, dx, tape } => d.eval_taped(t, x, dx, tape),
            Call::BackwardTaped {
                t,
                x,
                tape,
                lam,
                gx,
                gp,
                scratch,
            } => d.backward_taped(t, x, tape, lam, gx, gp, scratch),
        }
    }

    /// A call with one time per row ([`Call::EvalAt`], [`Call::VjpAt`]) as one single-time
    /// call per row, in row order, each handed to `each` with its row's place in `window`
    /// (row r of the call is row `window.start + r` of the batch), as the trait's default
    /// `eval_at` and `vjp_at` run them; any other call is handed over whole with `window`.
    /// For wrappers whose `call_rows` has no batched per-row-time path.
    pub fn per_row(
        self,
        dim: usize,
        window: RowWindow,
        mut each: impl FnMut(RowWindow, Call<'_, T>),
    ) {
        let at = |r: usize| RowWindow {
            start: window.start + r,
            total: window.total,
        };
        match self {
            Call::EvalAt { t, x, dx, scratch } if dim > 0 => {
                let rows = x.chunks_exact(dim).zip(dx.chunks_exact_mut(dim));
                for (r, (&t, (x, dx))) in t.iter().zip(rows).enumerate() {
                    let scratch = &mut *scratch;
                    each(at(r), Call::Eval { t, x, dx, scratch });
                }
            }
            Call::VjpAt {
                t,
                x,
                lam,
                gx,
                gp,
                scratch,
            } if dim > 0 => {
                let rows = x.chunks_exact(dim).zip(lam.chunks_exact(dim));
                let rows = rows.zip(gx.chunks_exact_mut(dim));
                for (r, (&t, ((x, lam), gx))) in t.iter().zip(rows).enumerate() {
                    let (gp, scratch) = (&mut *gp, &mut *scratch);
                    each(
                        at(r),
                        Call::Vjp {
                            t,
                            x,
                            lam,
                            gx,
                            gp,
                            scratch,
                        },
                    );
                }
            }
            call => each(window, call),
        }
    }

    /// Fills the call's outputs with NaN (`dx`, or `gx` and `gp`): the marker of a call the
    /// model could not run (see [`Dynamics::call_rows`]).
    pub fn fill_nan(self) {
        match self {
            Call::Eval { dx, .. } | Call::EvalAt { dx, .. } | Call::EvalTaped { dx, .. } => {
                dx.fill(T::nan())
            }
            Call::Vjp { gx, gp, .. }
            | Call::VjpAt { gx, gp, .. }
            | Call::BackwardTaped { gx, gp, .. } => {
                gx.fill(T::nan());
                gp.fill(T::nan());
            }
        }
    }

    /// The state rows `x` of the call.
    pub fn x(&self) -> &[T] {
        match self {
            Call::Eval { x, .. }
            | Call::EvalAt { x, .. }
            | Call::Vjp { x, .. }
            | Call::VjpAt { x, .. }
            | Call::EvalTaped { x, .. }
            | Call::BackwardTaped { x, .. } => x,
        }
    }
}
