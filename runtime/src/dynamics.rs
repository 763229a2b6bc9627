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
    /// Vector–Jacobian product at (x, t), recomputing the activations itself:
    /// `gx = λᵀ ∂f/∂x` (overwritten) and `gp += λᵀ ∂f/∂θ` (accumulated).
    fn vjp(&self, t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]);
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
}
