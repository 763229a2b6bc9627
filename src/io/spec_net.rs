//! [`SpecNet`]: the network a TOML model spec builds — the hand-written [`Mlp`] for a spec
//! of dense layers, the interpreter on the IR graph for a spec with image layers
//! (`conv2d`, `squeeze`, `unsqueeze`).

use symplode_runtime::interp::Interpreted;
use symplode_runtime::models::Mlp;
use symplode_runtime::second_order::SecondOrder;
use symplode_runtime::{Call, Dynamics, ParamTensor, Real, RowWindow};

/// The network of a [`ModelSpec`](super::ModelSpec) ([`ModelSpec::build_net`](super::ModelSpec::build_net)).
#[derive(Clone, Debug)]
pub enum SpecNet<T: Real> {
    /// Dense layers only: the [`Mlp`].
    Mlp(Mlp<T>),
    /// Image layers: the interpreted graph the `neural_ode!` DSL builds for the same layers
    /// (boxed: it is much larger than an `Mlp`).
    Graph(Box<Interpreted<T>>),
}

/// Forwards a call to the variant.
macro_rules! each {
    ($self:ident, $n:ident => $e:expr) => {
        match $self {
            SpecNet::Mlp($n) => $e,
            SpecNet::Graph($n) => $e,
        }
    };
}

impl<T: Real> Dynamics<T> for SpecNet<T> {
    fn dim(&self) -> usize {
        each!(self, n => n.dim())
    }
    fn params(&self) -> &[T] {
        each!(self, n => n.params())
    }
    fn params_mut(&mut self) -> &mut [T] {
        each!(self, n => n.params_mut())
    }
    fn param_tensors(&self) -> Vec<ParamTensor> {
        each!(self, n => n.param_tensors())
    }
    fn scratch_len(&self, batch: usize) -> usize {
        each!(self, n => n.scratch_len(batch))
    }
    fn tape_len(&self, batch: usize) -> usize {
        each!(self, n => n.tape_len(batch))
    }
    fn eval(&self, t: T, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        each!(self, n => n.eval(t, x, dx, scratch))
    }
    fn eval_at(&self, t: &[T], x: &[T], dx: &mut [T], scratch: &mut [T]) {
        each!(self, n => n.eval_at(t, x, dx, scratch))
    }
    fn vjp(&self, t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        each!(self, n => n.vjp(t, x, lam, gx, gp, scratch))
    }
    fn vjp_at(&self, t: &[T], x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        each!(self, n => n.vjp_at(t, x, lam, gx, gp, scratch))
    }
    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        each!(self, n => n.eval_taped(t, x, dx, tape))
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
        each!(self, n => n.backward_taped(t, x, tape, lam, gx, gp, scratch))
    }
    fn n_params(&self) -> usize {
        each!(self, n => n.n_params())
    }
    fn second_order(&self) -> Option<&dyn SecondOrder<T>> {
        each!(self, n => n.second_order())
    }
    fn call_rows(&self, window: RowWindow, call: Call<'_, T>) {
        each!(self, n => n.call_rows(window, call))
    }
}
