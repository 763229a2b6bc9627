//! symplode: neural ODEs with exact gradients at minimal memory.
//!
//! The symplectic adjoint method (Matsubara, Miyatake & Yaguchi, NeurIPS 2021) integrates the
//! adjoint of a Runge–Kutta discretised neural ODE with the symplectic partner of the forward
//! tableau, so the gradient equals backpropagation through the solver up to rounding while
//! memory is only the step checkpoints plus one network evaluation's activations.
//!
//! # Three ways to use it
//!
//! **1. As a library, with ndarray** (feature `ndarray`, on by default): a batch of initial
//! states in, `[time, batch, dim]` states and named parameter gradients out, all views of the
//! library's buffers.
//!
//! ```
//! use ndarray::array;
//! use symplode::prelude::*;
//!
//! let net = Mlp::<f64>::new(
//!     MlpConfig { dim: 2, hidden: vec![16, 16], activation: Activation::Tanh, time_input: true },
//!     0,
//! )?;
//! let scheme = Scheme::<f64>::builtin("dopri5")?;
//! let x0 = array![[0.5, -0.25], [1.0, 0.0]]; // [batch, dim]
//! let problem = Problem::from_array(&net, &[0.0, 0.5, 1.0], &scheme, Stepping::adaptive(1e-6, 1e-8), x0.view())?;
//! let exact = SymplecticAdjoint.gradient(&problem, &mut losses::mean_sq_final(2))?;
//! let states = exact.outputs_view(0, 2).expect("[time, batch, dim]");
//! assert_eq!(states.shape(), &[2, 2, 2]);
//! let w0 = exact.param_grad(&problem, 0, "layers.0.weight").expect("a dense weight");
//! assert_eq!(w0.shape(), &[16, 3]); // [out, in], as in PyTorch and the safetensors files
//!
//! // The same gradient as backpropagation through the solver, to rounding.
//! let reference = Backprop.gradient(&problem, &mut losses::mean_sq_final(2))?;
//! // (`max_rel_diff` is infinite, never small, when a value is NaN.)
//! use symplode::runtime::compare::max_rel_diff;
//! assert!(max_rel_diff(&exact.dtheta[0], &reference.dtheta[0]) < 1e-12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The forward and backward sweeps are also separate calls
//! ([`GradientMethod::forward`](runtime::grad::GradientMethod::forward) /
//! [`backward`](runtime::grad::GradientMethod::backward)), so a loss can be computed anywhere
//! in between; the flat slice API (`Problem::single`, `GradResult::dtheta`) stays for kernels
//! and for users who want it.
//!
//! **2. With [`neural_ode!`]**: the network and the tableau are declared in Rust; the tableau's
//! order conditions and symplectic partner are proved in exact rationals while the crate
//! compiles, and the model's forward, stage-recompute and adjoint kernels are generated with
//! sizes and coefficients inlined (`docs/macro.md`):
//!
//! ```
//! use symplode::prelude::*;
//!
//! symplode::neural_ode! {
//!     /// A 2-D vector field.
//!     pub struct Field {
//!         float: f64, dim: 2, time: true,
//!         layers: [dense(32, tanh), dense(2)],
//!         tableau: rk4,
//!         solver: { steps: 20 },
//!     }
//! }
//!
//! let model = Field::new(0);
//! let scheme = Field::scheme()?;
//! let x0 = vec![0.5, -0.25];
//! let problem = Problem::single(&model, &[0.0, 1.0], &scheme, Field::stepping(), &x0);
//! let g = SymplecticAdjoint.gradient(&problem, &mut losses::mean_sq_final(2))?;
//! assert!(g.loss.is_finite());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **3. From the command line** (feature `cli`, on by default), on PyTorch-compatible files
//! (TOML model spec, safetensors in `nn.Linear` layout, `.npy`; `docs/cli.md`):
//!
//! ```sh
//! symplode grad --model m.toml --weights w.safetensors --x0 x0.npy --tableau dopri5 \
//!     --rtol 1e-6 --atol 1e-8 --method symplectic --out grads.safetensors
//! symplode solve --model m.toml --weights w.safetensors --x0 x0.npy --times 0,0.5,1 --out xs.npy
//! symplode tableau check my_tableau.toml --verbose --jit
//! ```
//!
//! # Gradient methods
//!
//! Each is a backward kind ([`Taped`](runtime::grad::Taped),
//! [`Partner`](runtime::grad::Partner), the continuous [`Adjoint`](runtime::Adjoint)) composed
//! with a storage policy ([`runtime::grad::storage`]); any supported pair is a method
//! ([`Composed`](runtime::grad::Composed)). The named ones:
//!
//! | method | what the forward keeps | backward | exact |
//! |---|---|---|---|
//! | [`SymplecticAdjoint`](runtime::SymplecticAdjoint) | xₙ per step | partner tableau, stages recomputed | yes |
//! | [`SymplecticAdjointStored`](runtime::SymplecticAdjointStored) | S stage states per step | partner tableau | yes (same bits) |
//! | [`CheckpointStep`](runtime::CheckpointStep) (ACA) | xₙ per step | taped re-run of each step | yes |
//! | [`CheckpointComponent`](runtime::CheckpointComponent) | component start | taped replay of the component | yes |
//! | [`Backprop`](runtime::Backprop) | every stage's tape | reverse mode | yes |
//! | [`Adjoint`](runtime::Adjoint) | output states | continuous adjoint ODE | to tolerance |
//!
//! Every method predicts its peak memory before running
//! ([`GradientMethod::predict`](runtime::grad::GradientMethod::predict)), and the run reports
//! what it held ([`Stats`](runtime::grad::Stats)).
//!
//! # Tableaux
//!
//! Twelve built-ins in exact rationals with proven symplectic partners
//! ([`codegen::tableau::builtin`], [`BUILTIN_NAMES`](codegen::tableau::BUILTIN_NAMES)): euler,
//! midpoint, heun2, ralston2, rk4, rk38, bosh3, fehlberg45, cash_karp45, dopri5, tsit5,
//! dopri8; user tableaux from [`tableau!`], TOML files (`io::read_tableau`, feature
//! `model-files`) or [`Tableau::new`](codegen::tableau::Tableau::new), each validated
//! (order conditions, partner, pairing proof) in [`codegen::tableau`].
//!
//! # Executions
//!
//! One network IR ([`codegen::ir`], differentiated by [`codegen::ad`]) lowered once to a plan
//! ([`codegen::plan`]) that runs three ways with bit-identical results:
//! the interpreter ([`runtime::interp`]), the Cranelift JIT (`runtime::jit`, feature `jit`),
//! and Rust generated at compile time by [`neural_ode!`]. The step kernels of a tableau come
//! from the same three sources ([`runtime::step_kernels`]).
//!
//! # Features
//!
//! `jit` (Cranelift), `cli` (the `symplode` binary: clap, plus `model-files` and `progress`),
//! `model-files` (TOML specs and tableau files), `progress` (indicatif bars in [`train`]),
//! `ndarray` (the array boundary above) — all on by default. With `default-features = false`
//! a library user compiles no clap, indicatif, toml or plotters.
#![deny(missing_docs)]

extern crate self as symplode;

/// The ndarray version the array boundary uses (feature `ndarray`).
#[cfg(feature = "ndarray")]
pub use ndarray;
pub use symplode_codegen as codegen;
pub use symplode_macros::{neural_ode, tableau};
pub use symplode_runtime as runtime;

#[cfg(feature = "datasets")]
pub mod datasets;
pub mod io;
pub mod physics;
pub mod train;

/// The names most programs need.
pub mod prelude {
    pub use symplode_codegen::tableau::{BUILTIN_NAMES, Tableau, TableauError, builtin};
    pub use symplode_runtime::grad::{
        Component, GradResult, GradientMethod, MemoryPrediction, Outputs, Problem, ProblemSizes,
        Stats, losses,
    };
    pub use symplode_runtime::models::{
        Activation, ExpDecay, HarmonicOscillator, LinearOde, Mlp, MlpConfig,
    };
    pub use symplode_runtime::solver::{Solution, Trajectory, solve};
    pub use symplode_runtime::{
        Adaptive, Adjoint, Backprop, CheckpointComponent, CheckpointStep, Controller, Dynamics,
        Real, Scheme, SolveError, Stepping, SymplecticAdjoint, SymplecticAdjointStored,
    };
}
