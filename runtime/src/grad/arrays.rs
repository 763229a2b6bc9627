//! ndarray at the boundary (feature `ndarray`): a problem from an `ArrayView2` batch of
//! initial states, outputs as `[K, batch, dim]` views, parameter gradients by name with the
//! model's shapes. All views share the library's buffers (no copies).

use ndarray::{ArrayView2, ArrayView3, ArrayViewD, IxDyn};

use super::{GradResult, Problem};
use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::real::Real;
use crate::scheme::Scheme;
use crate::solver::Stepping;

impl<'a, T: Real> Problem<'a, T> {
    /// A single-component problem over a batch of initial states `x0` of shape `[batch, dim]`.
    /// The view is used in place: it must be in standard (row-major, contiguous) layout
    /// (`.as_standard_layout()` makes one), and `dim` must be the dynamics' state dimension.
    ///
    /// ```
    /// use ndarray::array;
    /// use symplode_runtime::grad::{GradientMethod, Problem, losses};
    /// use symplode_runtime::models::{Activation, Mlp, MlpConfig};
    /// use symplode_runtime::{Scheme, Stepping, SymplecticAdjoint};
    ///
    /// let cfg = MlpConfig { dim: 2, hidden: vec![8], activation: Activation::Tanh, time_input: true };
    /// let net = Mlp::<f64>::new(cfg, 0).unwrap();
    /// let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    /// let x0 = array![[0.5, -0.25], [1.0, 0.0], [0.0, 1.0]];
    /// let problem = Problem::from_array(&net, &[0.0, 0.5, 1.0], &scheme, Stepping::fixed(8), x0.view())?;
    /// let g = SymplecticAdjoint.gradient(&problem, &mut losses::mean_sq_final(2))?;
    /// let xs = g.outputs_view(0, 2).unwrap(); // [time, batch, dim]
    /// assert_eq!(xs.shape(), &[2, 3, 2]);
    /// let w = g.param_grad(&problem, 0, "layers.0.weight").unwrap(); // [out, in]
    /// assert_eq!(w.shape(), &[8, 3]);
    /// # Ok::<(), symplode_runtime::SolveError>(())
    /// ```
    pub fn from_array(
        dynamics: &'a dyn Dynamics<T>,
        times: &[f64],
        scheme: &'a Scheme<T>,
        stepping: Stepping,
        x0: ArrayView2<'a, T>,
    ) -> Result<Self, SolveError> {
        if x0.ncols() != dynamics.dim() {
            return Err(SolveError::Length {
                what: format!("x0 columns (the state dimension {})", dynamics.dim()),
                expected: dynamics.dim(),
                got: x0.ncols(),
            });
        }
        let shape = format!("{:?} with strides {:?}", x0.shape(), x0.strides());
        let slice = x0.to_slice().ok_or(SolveError::BadOption {
            name: "x0",
            value: shape,
            reason: "need a standard-layout (row-major, contiguous) array: use .as_standard_layout()",
        })?;
        Ok(Problem::single(dynamics, times, scheme, stepping, slice))
    }
}

impl<T: Real> GradResult<T> {
    /// The states of component m at its output times as `[K, batch, dim]` (a view of the
    /// result's buffer). `None` when m is out of range or `dim` does not divide a state.
    pub fn outputs_view(&self, m: usize, dim: usize) -> Option<ArrayView3<'_, T>> {
        self.outputs.get(m)?.view(dim)
    }

    /// dL/dx0 as `[batch, dim]`. `None` when `dim` does not divide its length.
    pub fn dx0_view(&self, dim: usize) -> Option<ArrayView2<'_, T>> {
        if dim == 0 || !self.dx0.len().is_multiple_of(dim) {
            return None;
        }
        ArrayView2::from_shape((self.dx0.len() / dim, dim), &self.dx0).ok()
    }

    /// dL/dθ of the tensor `name` of component m (e.g. `"layers.0.weight"`), with the shape the
    /// model declares for it (`[out, in]` for a dense weight, as in PyTorch and in the
    /// safetensors files the command line writes). `None` for an unknown name or component.
    pub fn param_grad(
        &self,
        problem: &Problem<'_, T>,
        m: usize,
        name: &str,
    ) -> Option<ArrayViewD<'_, T>> {
        let t = problem
            .chain
            .get(m)?
            .dynamics
            .param_tensors()
            .into_iter()
            .find(|t| t.name == name)?;
        let g = self.dtheta.get(m)?.get(t.range())?;
        ArrayViewD::from_shape(IxDyn(&t.shape), g).ok()
    }

    /// Every parameter gradient of component m by name, in the model's order and shapes.
    pub fn param_grads(
        &self,
        problem: &Problem<'_, T>,
        m: usize,
    ) -> Vec<(String, ArrayViewD<'_, T>)> {
        let Some(comp) = problem.chain.get(m) else {
            return Vec::new();
        };
        let Some(g) = self.dtheta.get(m) else {
            return Vec::new();
        };
        comp.dynamics
            .param_tensors()
            .into_iter()
            .filter_map(|t| {
                let view = ArrayViewD::from_shape(IxDyn(&t.shape), g.get(t.range())?).ok()?;
                Some((t.name, view))
            })
            .collect()
    }
}
