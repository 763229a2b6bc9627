//! The paper's physical-systems experiment: KdV and Cahn–Hilliard data (DGNet's generator),
//! the HNN++ energy model, and its training by one-interval prediction.
//!
//! - [`system`]: the two PDEs on a periodic grid (right-hand sides, energies, the discrete
//!   variational derivative step);
//! - [`dvd`]: the ground-truth integrator (Newton on each implicit step);
//! - [`dataset`]: seeded initial states, 100 × 501 states with exact `du/dt`, the 90/10
//!   split, `.npy` and safetensors files;
//! - [`model`]: the HNN++ energy network and the plain neural ODE on the IR, also from a TOML
//!   file ([`PhysicsSpec`]) and the `neural_ode!` DSL (`conv1d` layers, `form: energy(…)`);
//! - [`train`]: one-interval next-state batches for [`crate::train::Trainer`], and the
//!   derivative / prediction errors and rollouts used to evaluate a model.
//!
//! ```
//! use symplode::physics::{Dataset, DatasetConfig, SystemKind};
//!
//! let mut cfg = DatasetConfig::dgnet(SystemKind::Kdv);
//! cfg.trajectories = 2;
//! cfg.steps = 10;
//! let data = Dataset::generate(&cfg, |_, _| {})?;
//! let e = data.energies(0);
//! assert!(((e[10] - e[0]) / e[0]).abs() < 1e-12);
//! # Ok::<(), symplode::physics::PhysicsError>(())
//! ```

pub mod dataset;
mod dense_lu;
pub mod dvd;
mod error;
pub mod model;
#[cfg(feature = "model-files")]
mod spec;
pub mod system;
pub mod train;

pub use dataset::{Dataset, DatasetConfig};
pub use error::PhysicsError;
pub use model::{ModelForm, PhysicsModel};
#[cfg(feature = "model-files")]
pub use spec::PhysicsSpec;
pub use system::{PdeSystem, SystemKind};
