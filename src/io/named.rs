//! [`Named`]: a [`Dynamics`] wrapper that renames the parameter tensors (e.g. the MLP's
//! `layers.0.weight` to a PyTorch `nn.Sequential`'s `net.0.weight`).

use symplode_runtime::{Dynamics, ParamTensor, Real};

use super::IoError;

/// Forwards every [`Dynamics`] method to `inner` unchanged, except that
/// [`Dynamics::param_tensors`] reports the given names (same shapes, same offsets).
///
/// ```
/// use symplode::io::Named;
/// use symplode::prelude::*;
///
/// let mlp = Mlp::<f64>::new(MlpConfig::new(2, vec![8], Activation::Tanh, false), 0)?;
/// let names = ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"];
/// let net = Named::new(mlp, names.iter().map(|s| s.to_string()).collect())?;
/// assert_eq!(net.param_tensors()[2].name, "net.2.weight");
/// assert_eq!(net.param_tensors()[2].shape, vec![2, 8]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Named<D> {
    inner: D,
    names: Vec<String>,
}

impl<D> Named<D> {
    /// Wraps `inner`, giving its parameter tensors `names` in order.
    ///
    /// # Errors
    /// [`IoError::Field`] when the number of names differs from the number of tensors or a
    /// name is empty or repeated.
    pub fn new<T: Real>(inner: D, names: Vec<String>) -> Result<Self, IoError>
    where
        D: Dynamics<T>,
    {
        let count = inner.param_tensors().len();
        let bad = |reason: String| IoError::Field {
            origin: "Named".into(),
            field: "names".into(),
            reason,
        };
        if names.len() != count {
            return Err(bad(format!(
                "{} names given for {count} parameter tensors",
                names.len()
            )));
        }
        let mut seen = std::collections::HashSet::with_capacity(names.len());
        for (k, n) in names.iter().enumerate() {
            if n.is_empty() || !seen.insert(n.as_str()) {
                return Err(bad(format!("name {k} (`{n}`) is empty or repeated")));
            }
        }
        Ok(Named { inner, names })
    }

    /// The wrapped dynamics.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped dynamics, mutable.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// The tensor names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Unwraps.
    pub fn into_inner(self) -> D {
        self.inner
    }
}

impl<T: Real, D: Dynamics<T>> Dynamics<T> for Named<D> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn params(&self) -> &[T] {
        self.inner.params()
    }
    fn params_mut(&mut self) -> &mut [T] {
        self.inner.params_mut()
    }
    fn param_tensors(&self) -> Vec<ParamTensor> {
        let mut tensors = self.inner.param_tensors();
        for (t, name) in tensors.iter_mut().zip(&self.names) {
            t.name.clone_from(name);
        }
        tensors
    }
    fn scratch_len(&self, batch: usize) -> usize {
        self.inner.scratch_len(batch)
    }
    fn tape_len(&self, batch: usize) -> usize {
        self.inner.tape_len(batch)
    }
    fn eval(&self, t: T, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        self.inner.eval(t, x, dx, scratch);
    }
    fn eval_at(&self, t: &[T], x: &[T], dx: &mut [T], scratch: &mut [T]) {
        self.inner.eval_at(t, x, dx, scratch);
    }
    fn vjp(&self, t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        self.inner.vjp(t, x, lam, gx, gp, scratch);
    }
    fn vjp_at(&self, t: &[T], x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        self.inner.vjp_at(t, x, lam, gx, gp, scratch);
    }
    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        self.inner.eval_taped(t, x, dx, tape);
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
        self.inner.backward_taped(t, x, tape, lam, gx, gp, scratch);
    }
    fn n_params(&self) -> usize {
        self.inner.n_params()
    }
    fn second_order(&self) -> Option<&dyn symplode_runtime::second_order::SecondOrder<T>> {
        self.inner.second_order()
    }
    fn call_rows(&self, window: symplode_runtime::RowWindow, call: symplode_runtime::Call<'_, T>) {
        self.inner.call_rows(window, call);
    }
}
