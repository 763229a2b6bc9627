//! symplode: neural ODEs with exact gradients at minimal memory.
//!
//! The symplectic adjoint method (Matsubara, Miyatake & Yaguchi, NeurIPS 2021) integrates the
//! adjoint of a Runge–Kutta discretised neural ODE with the symplectic partner of the forward
//! tableau, so the gradient equals backpropagation through the solver up to rounding while
//! memory is only the step checkpoints plus one network evaluation's activations.
//!
//! ```
//! use symplode::prelude::*;
//!
//! let net = Mlp::<f64>::new(
//!     MlpConfig { dim: 2, hidden: vec![16, 16], activation: Activation::Tanh, time_input: true },
//!     0,
//! )?;
//! let scheme = Scheme::<f64>::builtin("dopri5")?;
//! let x0 = vec![0.5, -0.25, 1.0, 0.0]; // two samples of a 2-D state
//! let problem = Problem::single(&net, &[0.0, 1.0], &scheme, Stepping::adaptive(1e-6, 1e-8), &x0);
//! let exact = SymplecticAdjoint.gradient(&problem, &mut losses::mean_sq_final(2))?;
//! let reference = Backprop.gradient(&problem, &mut losses::mean_sq_final(2))?;
//! let diff = exact.dtheta[0].iter().zip(&reference.dtheta[0]).map(|(a, b)| (a - b).abs());
//! assert!(diff.fold(0.0, f64::max) < 1e-12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

extern crate self as symplode;

pub use symplode_codegen as codegen;
pub use symplode_macros::{neural_ode, tableau};
pub use symplode_runtime as runtime;

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
    pub use symplode_runtime::solver::{Solution, solve};
    pub use symplode_runtime::{
        Adaptive, Adjoint, Backprop, CheckpointComponent, CheckpointStep, Controller, Dynamics,
        Real, Scheme, SolveError, Stepping, SymplecticAdjoint, SymplecticAdjointStored,
    };
}
