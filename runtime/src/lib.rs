//! symplode-runtime: dynamics, integrators, the five gradient methods and memory accounting.
#![deny(missing_docs)]

pub mod compare;
pub mod dynamics;
pub mod linalg;
pub mod machine;
pub mod models;
pub mod parallel;
pub mod real;
pub mod rng;

pub use dynamics::{Call, Dynamics, ParamTensor, RowWindow};
pub use real::Real;
pub mod error;
pub mod grad;
pub mod interp;
#[cfg(feature = "jit")]
pub mod jit;
pub mod optim;
pub mod scheme;
pub mod second_order;
pub mod solver;
pub mod step_kernels;

pub use error::SolveError;
pub use grad::{
    Adjoint, Backprop, CheckpointComponent, CheckpointStep, Component, GradResult, GradientMethod,
    Problem, Stats, SymplecticAdjoint, SymplecticAdjointStored,
};
pub use scheme::Scheme;
pub use second_order::{SecondOrder, TangentSystem};
pub use solver::{Adaptive, Controller, Stepping};
