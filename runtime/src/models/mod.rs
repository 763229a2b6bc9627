//! Concrete dynamics: a run-time-configured MLP and analytic test models.
//!
//! - [`Mlp`]: batched multilayer perceptron with PyTorch `nn.Linear` parameter layout;
//! - [`ExpDecay`], [`HarmonicOscillator`], [`LinearOde`]: models with closed-form states and
//!   exact gradients (`exact_state`, `exact_gradient`) for validating the gradient methods;
//! - [`image_flow`]: FFJORD's multiscale image flow ([`ImageFlow`]), a chain of interpreted
//!   convolutional CNF blocks;
//! - [`tabular_flow`]: FFJORD's tabular flow ([`TabularFlow`]), `M` stacked CNF blocks of one
//!   vector field (ConcatSquash MLPs), Hutchinson trace in training, exact at test.
//!
//! The models above implement [`Dynamics`](crate::Dynamics) for f32 and f64 and never allocate in their
//! evaluation and VJP methods.
//!
//! [`Activation`] and [`Saved`] are the IR's (re-exported); their numeric kernels are
//! [`ActivationKernels`] ([`crate::linalg::elementwise`]).

pub mod decay;
pub mod error;
pub mod image_flow;
pub mod linear;
pub mod mlp;
pub mod oscillator;
pub mod tabular_flow;

pub use crate::linalg::elementwise::ActivationKernels;
pub use decay::ExpDecay;
pub use error::ModelError;
pub use image_flow::{ImageFlow, ImageFlowConfig};
pub use linear::{LinearOde, expm};
pub use mlp::{Mlp, MlpConfig};
pub use oscillator::HarmonicOscillator;
pub use symplode_codegen::ir::{Activation, Saved};
pub use tabular_flow::{TabularFlow, TabularFlowConfig};
