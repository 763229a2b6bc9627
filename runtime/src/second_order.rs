//! Second derivatives of a vector field: the [`SecondOrder`] capability and the
//! [`TangentSystem`] it builds, which the Hessian-vector product
//! ([`crate::grad::hvp`]) integrates and differentiates.
//!
//! A model is second order when it can produce the tangent (variational) system of its
//! vector field in a parameter direction θ̇ (see [`symplode_codegen::ad::tangent_system`]):
//!
//! ```text
//! F([x | ẋ], t) = [ f(x, t; θ) | ∂f/∂x · ẋ + ∂f/∂θ · θ̇ ]      parameters [θ, θ̇]
//! ```
//!
//! `F` is an ordinary [`Dynamics`] of width 2d, so every solver and gradient method runs on
//! it. Its evaluation is the JVP of `f` ([`TangentSystem::jvp`]) and its VJP is the tangent of
//! `f`'s VJP ([`TangentSystem::vjp_jvp`]). The graph of `F` is built and compiled once per model
//! (cached); each [`SecondOrder::tangent_system`] call copies the compiled programs and sets
//! the parameters.
//!
//! The interpreter's models ([`Interpreted`]) and the built-in
//! [`Mlp`](crate::models::Mlp) (through its IR, [`MlpConfig::graph`](crate::models::MlpConfig::graph))
//! are second order; [`Dynamics::second_order`] says whether a model is.

use std::sync::{Arc, OnceLock};

use symplode_codegen::ad;
use symplode_codegen::ir::Graph;

use crate::dynamics::{Call, Dynamics, ParamTensor, RowWindow};
use crate::interp::{InterpError, Interpreted};
use crate::real::Real;

/// A model that can give the tangent system of its vector field (see the
/// [module documentation](self)).
pub trait SecondOrder<T: Real>: Dynamics<T> {
    /// The tangent system for the parameter direction `direction` (θ̇, the model's flat
    /// parameter layout), with the model's current parameters and auxiliary inputs.
    ///
    /// Errors: `direction` has the wrong length or a non-finite element (tensor and index),
    /// or the tangent graph cannot be built.
    fn tangent_system(&self, direction: &[T]) -> Result<TangentSystem<T>, InterpError>;
}

/// The tangent system `F([x | ẋ], t; [θ, θ̇])` of a second-order model: a [`Dynamics`] of
/// width 2d whose rows are `x` then `ẋ`, and whose parameters are θ then θ̇.
#[derive(Clone, Debug)]
pub struct TangentSystem<T: Real> {
    d: usize,
    model: Interpreted<T>,
}

impl<T: Real> TangentSystem<T> {
    /// The width d of the original state (this system's is 2d).
    pub fn base_dim(&self) -> usize {
        self.d
    }

    /// The interpreted model of `F`.
    pub fn model(&self) -> &Interpreted<T> {
        &self.model
    }

    /// Packs `x` and `ẋ` (`[B,d]` each) into rows `[x | ẋ]` (`[B,2d]`).
    pub fn pack(&self, x: &[T], xd: &[T], z: &mut [T]) {
        let d = self.d;
        for ((row, a), b) in z
            .chunks_exact_mut(2 * d)
            .zip(x.chunks_exact(d))
            .zip(xd.chunks_exact(d))
        {
            row[..d].copy_from_slice(a);
            row[d..].copy_from_slice(b);
        }
    }

    /// Splits rows `[a | b]` (`[B,2d]`) into `a` and `b` (`[B,d]` each).
    pub fn unpack(&self, z: &[T], a: &mut [T], b: &mut [T]) {
        let d = self.d;
        for ((row, a), b) in z
            .chunks_exact(2 * d)
            .zip(a.chunks_exact_mut(d))
            .zip(b.chunks_exact_mut(d))
        {
            a.copy_from_slice(&row[..d]);
            b.copy_from_slice(&row[d..]);
        }
    }

    /// The JVP of `f` at `(x, t; θ)` along `(ẋ, θ̇)`: `f = f(x, t)` and
    /// `fd = ∂f/∂x · ẋ + ∂f/∂θ · θ̇` (all `[B,d]`). A convenience that allocates; the gradient
    /// code runs the system as [`Dynamics`] instead.
    pub fn jvp(&self, t: T, x: &[T], xd: &[T], f: &mut [T], fd: &mut [T]) {
        let n = x.len();
        let mut z = vec![T::zero(); 2 * n];
        let mut out = vec![T::zero(); 2 * n];
        let mut scratch = vec![T::zero(); self.model.scratch_len(n / self.d.max(1))];
        self.pack(x, xd, &mut z);
        self.model.eval(t, &z, &mut out, &mut scratch);
        self.unpack(&out, f, fd);
    }

    /// The tangent of `f`'s VJP at `(x, t; θ)` with cotangent `μ`, when `(x, θ, μ)` move along
    /// `(ẋ, θ̇, μ̇)`: `gx = (∂f/∂x)ᵀμ`, `gxd = d/dε (∂f/∂x)ᵀμ` (overwritten, `[B,d]`),
    /// `gp += (∂f/∂θ)ᵀμ`, `gpd += d/dε (∂f/∂θ)ᵀμ` (parameter layout). A convenience that
    /// allocates.
    #[allow(clippy::too_many_arguments)]
    pub fn vjp_jvp(
        &self,
        t: T,
        x: &[T],
        xd: &[T],
        mu: &[T],
        mud: &[T],
        gx: &mut [T],
        gxd: &mut [T],
        gp: &mut [T],
        gpd: &mut [T],
    ) {
        let n = x.len();
        let np = gp.len();
        let mut z = vec![T::zero(); 2 * n];
        let mut cot = vec![T::zero(); 2 * n];
        let mut gz = vec![T::zero(); 2 * n];
        let mut gq = vec![T::zero(); 2 * np];
        let mut scratch = vec![T::zero(); self.model.scratch_len(n / self.d.max(1))];
        self.pack(x, xd, &mut z);
        // The cotangent of [f | ḟ] is [μ̇ | μ]: its x part is the tangent of the VJP.
        self.pack(mud, mu, &mut cot);
        self.model.vjp(t, &z, &cot, &mut gz, &mut gq, &mut scratch);
        self.unpack(&gz, gxd, gx);
        for (g, &v) in gpd.iter_mut().zip(&gq[..np]) {
            *g += v;
        }
        for (g, &v) in gp.iter_mut().zip(&gq[np..]) {
            *g += v;
        }
    }
}

impl<T: Real> Dynamics<T> for TangentSystem<T> {
    fn dim(&self) -> usize {
        2 * self.d
    }
    fn params(&self) -> &[T] {
        self.model.params()
    }
    fn params_mut(&mut self) -> &mut [T] {
        self.model.params_mut()
    }
    fn param_tensors(&self) -> Vec<ParamTensor> {
        self.model.param_tensors()
    }
    fn scratch_len(&self, batch: usize) -> usize {
        self.model.scratch_len(batch)
    }
    fn tape_len(&self, batch: usize) -> usize {
        self.model.tape_len(batch)
    }
    fn eval(&self, t: T, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        self.model.eval(t, x, dx, scratch);
    }
    fn vjp(&self, t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        self.model.vjp(t, x, lam, gx, gp, scratch);
    }
    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        self.model.eval_taped(t, x, dx, tape);
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
        self.model.backward_taped(t, x, tape, lam, gx, gp, scratch);
    }
    fn eval_at(&self, t: &[T], x: &[T], dx: &mut [T], scratch: &mut [T]) {
        self.model.eval_at(t, x, dx, scratch);
    }
    fn vjp_at(&self, t: &[T], x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        self.model.vjp_at(t, x, lam, gx, gp, scratch);
    }
    /// The interpreted tangent graph's (its auxiliary inputs read at the window's rows).
    fn call_rows(&self, window: RowWindow, call: Call<'_, T>) {
        self.model.call_rows(window, call);
    }
}

/// The compiled tangent system of a model's graph, built on first use and shared by clones
/// (it depends on the graph only, not on the parameters). Always equal to another cache, so
/// models that hold one keep their `PartialEq`.
pub(crate) struct TangentCache<T: Real>(OnceLock<Arc<Interpreted<T>>>);

impl<T: Real> Default for TangentCache<T> {
    fn default() -> Self {
        TangentCache(OnceLock::new())
    }
}

impl<T: Real> Clone for TangentCache<T> {
    fn clone(&self) -> Self {
        let c = TangentCache::default();
        if let Some(m) = self.0.get() {
            let _ = c.0.set(Arc::clone(m));
        }
        c
    }
}

impl<T: Real> PartialEq for TangentCache<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T: Real> std::fmt::Debug for TangentCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "TangentCache(built)"
        } else {
            "TangentCache(empty)"
        })
    }
}

impl<T: Real> TangentCache<T> {
    /// The tangent system of `graph` (whose parameters are `params`) in direction `direction`,
    /// with auxiliary inputs `aux(i)` for i ≥ 1.
    pub fn system<'a>(
        &self,
        graph: impl FnOnce() -> Result<Graph, InterpError>,
        params: &[T],
        tensors: &[ParamTensor],
        aux: impl Fn(usize) -> &'a [T],
        direction: &[T],
    ) -> Result<TangentSystem<T>, InterpError>
    where
        T: 'a,
    {
        if direction.len() != params.len() {
            return Err(InterpError::ParamCount {
                expected: params.len(),
                got: direction.len(),
                layout: tensors
                    .iter()
                    .map(|t| format!("{} {:?}", t.name, t.shape))
                    .collect::<Vec<_>>()
                    .join(" + "),
            });
        }
        for t in tensors {
            if let Some(i) = direction[t.range()].iter().position(|v| !v.is_finite()) {
                return Err(InterpError::NonFiniteParam {
                    tensor: format!("{}.tangent", t.name),
                    index: i,
                    value: direction[t.offset + i].to_string(),
                });
            }
        }
        let template = match self.0.get() {
            Some(m) => Arc::clone(m),
            None => {
                let g = ad::tangent_system(&graph()?)?;
                let zeros = vec![T::zero(); g.param_len()];
                let m = Arc::new(Interpreted::new(g, zeros)?);
                let _ = self.0.set(Arc::clone(&m));
                m
            }
        };
        let mut model = (*template).clone();
        let d = model.dim() / 2;
        let (theta, theta_dot) = model.params_mut().split_at_mut(params.len());
        theta.copy_from_slice(params);
        theta_dot.copy_from_slice(direction);
        let inputs = model.graph().inputs().len();
        for i in 1..inputs {
            let data = aux(i);
            if !data.is_empty() {
                model.set_aux(i, data)?;
            }
        }
        Ok(TangentSystem { d, model })
    }
}
