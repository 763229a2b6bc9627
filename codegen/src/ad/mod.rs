//! Automatic differentiation as IR → IR transformations.
//!
//! [`vjp`] (reverse mode) and [`jvp`] (forward mode) turn a [`Graph`](crate::ir::Graph)
//! into another graph; no tape exists at run time. Every op's derivative is written with
//! ops of the IR (see the table in [`crate::ir`]), so the passes compose: [`cnf_dynamics`]
//! (a VJP or JVPs inside f) and [`energy_dynamics`] (a gradient inside f) are ordinary
//! graphs whose `vjp` is the adjoint, second order.
//!
//! The lower-level [`adjoints`] and [`tangents`] append a reverse or forward sweep over a
//! node range to a [`GraphBuilder`](crate::ir::GraphBuilder), for compositions built by
//! hand.
//!
//! ```
//! use symplode_codegen::ad::{Wrt, vjp};
//! use symplode_codegen::ir::{Activation, Graph, IrError};
//!
//! let f = Graph::mlp(2, &[8], Activation::Tanh, true)?;
//! let g = vjp(&f, &Wrt::state_and_params(&f))?;
//! // Inputs x and the cotangent λ; outputs f, λᵀ∂f/∂x and the four parameter gradients.
//! assert_eq!(g.inputs().len(), 2);
//! assert_eq!(g.outputs().len(), 1 + 1 + 4);
//! # Ok::<(), IrError>(())
//! ```
//!
//! # Which forward values a VJP graph reads
//!
//! A VJP graph recomputes `g` (its first nodes are a copy of `g`'s) and reads, in the
//! reverse part: the inputs of each dense/convolution layer (for weight gradients and the
//! second-order terms), and for each elementwise op the values its derivative is written
//! from: `y` for tanh (`1 − y²`), sigmoid (`y(1 − y)`), exp and recip; `x` for softplus
//! (`sigmoid(x)`), relu (`step(x)`), sin, cos, square and log; both for elu and silu; the
//! operands for mul and div (and `y` for div). [`crate::ir::analysis::partition`] splits a
//! VJP graph at its cotangent inputs into forward pass, backward pass and tape (for a
//! `tanh` MLP the tape is each hidden layer's output, as the runtime `Mlp` keeps).
//!
//! Parameter gradients are global values summed over the batch (`batch_outer`,
//! `batch_sum`, `conv1d_wgrad`, then sums); [`crate::ir::analysis::batch_chunkable`] says
//! when a graph may be run on batch chunks with its global outputs summed afterwards.

pub mod check;
mod cnf;
mod derivative;
mod energy;
mod forward;
mod reverse;
mod tangent_system;
mod transform;

pub use cnf::{Trace, cnf_dynamics};
pub use energy::{LinearOp, energy_dynamics};
pub use forward::{Tangents, tangents};
pub use reverse::{Adjoints, adjoint_or_zero, adjoints};
pub use tangent_system::tangent_system;
pub use transform::{Wrt, jvp, vjp};
