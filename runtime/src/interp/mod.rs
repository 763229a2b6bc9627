//! The runtime interpreter: any IR graph of a vector field `f(x, t; θ)` as a [`Dynamics`].
//!
//! [`Interpreted::new`] takes a [`Graph`] whose input 0 is the state `x [B,d]` and whose one
//! output is `[B,d]`, and the flat parameter vector (tensors in the graph's declaration
//! order, each row-major; [`Dynamics::param_tensors`] names them). It compiles the graph once
//! into the four programs of [`NetworkPlans`] (codegen's plan, the program the JIT compiles
//! too): **eval** (the graph, cleaned by CSE/DCE), **VJP** (the graph from
//! [`ad::vjp`], recomputing the evaluation in the caller's scratch: memory L), and the taped
//! **forward** / **backward** pair (a partition of the VJP graph, cheap ops recomputed), run
//! by [`Dynamics::eval`], [`Dynamics::vjp`], [`Dynamics::eval_taped`] and
//! [`Dynamics::backward_taped`].
//!
//! Each program is a list of steps over buffers whose offsets were assigned by a
//! liveness-based allocator, global values (parameter gradients) in elements and batched
//! values in rows, so [`Dynamics::scratch_len`] and [`Dynamics::tape_len`] are exact
//! `globals + rows·B`. This module executes the steps: dense layers on
//! [`crate::linalg::matmul`] (`x Wᵀ` as a strided view of `W`), `tanh` on
//! [`Real::tanh_slice`], elementwise ops in place where an operand dies; parameter gradients
//! that are one batch reduction are accumulated straight into `gp`. After warm-up an
//! evaluation allocates nothing.
//!
//! # Auxiliary inputs
//!
//! Inputs after the state (e.g. the Hutchinson noise `ε` of a CNF) are held by the model and
//! set with [`Interpreted::set_aux`] (checked: index, length, finiteness). They are
//! `[B,w]`: the batch of every evaluation must be the one they were set for
//! ([`Interpreted::check_aux`] says whether it is). The [`Dynamics`] methods cannot return
//! an error, so an evaluation whose auxiliary inputs are missing or of another batch fills
//! its outputs (`dx`, `gx`, and adds to `gp`) with NaN instead of panicking; the solvers
//! report that as a non-finite state. Because the model keeps an auxiliary input until the
//! caller changes it, the forward and backward passes of one gradient computation see the
//! same values (as a CNF's Hutchinson estimator requires). Batch chunking
//! ([`crate::parallel::Chunked`]) runs each chunk through [`Dynamics::call_rows`] with its
//! place in the batch, and the chunk's rows read their own rows of the auxiliary inputs (which
//! stay set for the whole batch). A graph whose rows are coupled (a batch reduction fed back
//! into the rows) gives NaN for a part of the batch: its chunks would not add up to the batch.
//!
//! ```
//! use symplode_codegen::ir::{Activation, Graph};
//! use symplode_runtime::Dynamics;
//! use symplode_runtime::interp::Interpreted;
//!
//! let g = Graph::mlp(2, &[8], Activation::Tanh, true).unwrap();
//! let f = Interpreted::<f64>::new(g, vec![0.1; 3 * 8 + 8 + 8 * 2 + 2]).unwrap();
//! let (x, mut dx) = (vec![1.0, 2.0], vec![0.0; 2]);
//! let mut scratch = vec![0.0; f.scratch_len(1)];
//! f.eval(0.5, &x, &mut dx, &mut scratch);
//! let h = (0.1f64 * (1.0 + 2.0 + 0.5) + 0.1).tanh();
//! assert!((dx[0] - (0.1 * 8.0 * h + 0.1)).abs() < 1e-14);
//! ```

mod aux;
mod calls;
mod conv_gemm;
mod error;
mod exec;
pub mod op_kernels;
mod uniform;

pub use aux::AuxInputs;
pub use error::InterpError;

use symplode_codegen::ad::{self, LinearOp, Trace};
use symplode_codegen::ir::analysis::batch_chunkable;
use symplode_codegen::ir::{Graph, Type};
use symplode_codegen::plan::NetworkPlans;

#[cfg(doc)]
use crate::dynamics::Dynamics;
use crate::dynamics::ParamTensor;
use crate::real::Real;
use crate::second_order::{SecondOrder, TangentCache, TangentSystem};
#[cfg(feature = "jit")]
pub(crate) use exec::Mem as RunMem;

/// A graph of a vector field run as [`Dynamics`] by the interpreter (see the
/// [module documentation](self)).
#[derive(Clone, Debug)]
pub struct Interpreted<T: Real> {
    dim: usize,
    params: Vec<T>,
    tensors: Vec<ParamTensor>,
    /// Auxiliary data by input index (index 0, the state, stays empty).
    aux: AuxInputs<T>,
    /// The four programs (eval, VJP, taped forward, taped backward) and the graph they run.
    plans: NetworkPlans,
    /// Each program's constants in `T` (the order of [`NetworkPlans::all`]).
    consts: [Vec<T>; 4],
    /// Each program's row-uniform steps and the ones kept as one row ([`uniform::RowPlan`]).
    uniform: [uniform::RowPlan; 4],
    /// The compiled tangent system of the graph, built on first use.
    tangent: TangentCache<T>,
    /// Whether the rows of the graph are independent, so that a sub-batch gives the rows of
    /// the whole batch ([`batch_chunkable`]); a graph that feeds a batch reduction back into
    /// its rows is not, and refuses row windows of a part of the batch.
    rows_independent: bool,
}

impl<T: Real> Interpreted<T> {
    /// Compiles `graph` (input 0 the state `[B,d]`, one output `[B,d]`) with parameters
    /// `params` (the graph's tensors in declaration order, each row-major).
    ///
    /// Errors: no input, not exactly one batched output of width `d`, a wrong parameter
    /// count (the message gives the layout), a non-finite parameter (tensor and index), or
    /// a failure to differentiate the graph.
    pub fn new(graph: Graph, params: Vec<T>) -> Result<Self, InterpError> {
        let dim = graph.inputs().first().ok_or(InterpError::NoState)?.width;
        match graph.output_types().as_slice() {
            [Type::Batched { width }] if *width == dim => {}
            types => {
                return Err(InterpError::Output {
                    dim,
                    detail: format!(
                        "it has outputs [{}]",
                        types
                            .iter()
                            .map(|t| t.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        if params.len() != graph.param_len() {
            return Err(InterpError::ParamCount {
                expected: graph.param_len(),
                got: params.len(),
                layout: graph.param_layout(),
            });
        }
        let offsets = graph.param_offsets();
        let tensors: Vec<ParamTensor> = graph
            .params()
            .iter()
            .zip(&offsets)
            .map(|(p, &offset)| ParamTensor {
                name: p.name.clone(),
                shape: p.shape.clone(),
                offset,
            })
            .collect();
        for t in &tensors {
            if let Some(i) = params[t.range()].iter().position(|v| !v.is_finite()) {
                return Err(InterpError::NonFiniteParam {
                    tensor: t.name.clone(),
                    index: i,
                    value: params[t.offset + i].to_string(),
                });
            }
        }
        let rows_independent = batch_chunkable(&graph);
        let plans = NetworkPlans::new(&graph)?;
        let consts = plans
            .all()
            .map(|p| p.consts.iter().map(|&c| T::of(c)).collect());
        let uniform = plans.all().map(uniform::RowPlan::new);
        Ok(Interpreted {
            aux: AuxInputs::new(
                graph
                    .inputs()
                    .iter()
                    .map(|i| (i.name.clone(), i.width))
                    .collect(),
            ),
            dim,
            params,
            tensors,
            plans,
            consts,
            uniform,
            tangent: TangentCache::default(),
            rows_independent,
        })
    }

    /// How many steps of each program (eval, VJP, taped forward, taped backward) compute a
    /// row-uniform value (one that depends on the time and parameters only) on one row and
    /// copy it to the others when the batch runs at one time.
    pub fn row_uniform_steps(&self) -> [usize; 4] {
        self.uniform
            .each_ref()
            .map(|u| u.uniform.iter().filter(|&&b| b).count())
    }

    /// How many of [`Interpreted::row_uniform_steps`] keep their value as one row (never
    /// copied to the others: every reader reads one row) when no hook runs steps.
    pub fn one_row_steps(&self) -> [usize; 4] {
        self.uniform
            .each_ref()
            .map(|u| u.lazy.iter().filter(|&&b| b).count())
    }

    /// The graph being run (after CSE and DCE).
    pub fn graph(&self) -> &Graph {
        &self.plans.graph
    }

    /// Sets auxiliary input `index` (1 ≤ index < number of inputs) to `data`, row-major
    /// `[B, width]` for the batch of the coming evaluations. It is kept until changed.
    ///
    /// Errors: `index` is the state or not an input, the length is not a positive multiple
    /// of the width, or a value is not finite.
    pub fn set_aux(&mut self, index: usize, data: &[T]) -> Result<(), InterpError> {
        self.aux.set(index, data)
    }

    /// The data of auxiliary input `index` (empty if unset or not an auxiliary input).
    pub fn aux(&self, index: usize) -> &[T] {
        self.aux.get(index)
    }

    /// Checks that every auxiliary input the dynamics reads is set for batch size `batch`.
    pub fn check_aux(&self, batch: usize) -> Result<(), InterpError> {
        let used = self.plans.all().into_iter().flat_map(|p| &p.aux_used);
        for &i in used {
            self.aux.check(i, batch)?;
        }
        Ok(())
    }

    /// The four programs it runs: eval, VJP, taped forward, taped backward.
    pub fn plans(&self) -> &NetworkPlans {
        &self.plans
    }
}

impl<T: Real> SecondOrder<T> for Interpreted<T> {
    fn tangent_system(&self, direction: &[T]) -> Result<TangentSystem<T>, InterpError> {
        self.tangent.system(
            || Ok(self.plans.graph.clone()),
            &self.params,
            &self.tensors,
            |i| self.aux(i),
            direction,
        )
    }
}

/// A continuous normalizing flow as [`Dynamics`]: the state is `[z, log p]` (width `d + 1`)
/// and the dynamics `[f(z, t), −tr(∂f/∂z)]` ([`ad::cnf_dynamics`]); `f` maps one input
/// `z [B,d]` to one output `[B,d]`, `params` are `f`'s.
///
/// With [`Trace::Hutchinson`] the noise `ε [B,d]` is auxiliary input 1: set it with
/// `set_aux(1, eps)` once per solve. The same `ε` must be used in the forward and the
/// backward pass of one gradient; that holds because the model keeps it until the caller
/// changes it (draw a new one only between gradient computations).
pub fn cnf<T: Real>(
    f: &Graph,
    trace: Trace,
    params: Vec<T>,
) -> Result<Interpreted<T>, InterpError> {
    Interpreted::new(ad::cnf_dynamics(f, trace)?, params)
}

/// An energy-based model `ż = D ∇_z H(z)` as [`Dynamics`] ([`ad::energy_dynamics`]): `h` has
/// one input `z [B,w]` and one batched output summed to the energy; `op` is the fixed
/// linear operator `D`; `params` are `h`'s.
pub fn energy<T: Real>(
    h: &Graph,
    op: &LinearOp,
    params: Vec<T>,
) -> Result<Interpreted<T>, InterpError> {
    Interpreted::new(ad::energy_dynamics(h, op)?, params)
}
