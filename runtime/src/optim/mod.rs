//! Optimisers for flat parameter vectors: [`Adam`] (L2 or decoupled weight decay) and [`Sgd`]
//! (optional momentum), learning-rate schedules ([`LrSchedule`]) and gradient clipping by global
//! norm ([`clip_grad_norm`]).
//!
//! An optimiser steps a model's flat parameter slice ([`crate::Dynamics::params_mut`]) with the
//! gradient in the same layout (a [`crate::GradResult::dtheta`] entry). The update formulas follow
//! PyTorch's `torch.optim.Adam` / `AdamW` / `SGD` (single-tensor path) operation by operation, so
//! the same gradients give the same parameters up to rounding. Moments and the step count are
//! held in `f64` for either precision and are exported as an [`OptimState`] for checkpoints;
//! loading a saved state and continuing is bit-identical to never having stopped.
//!
//! ```
//! use symplode_runtime::optim::{Adam, AdamConfig, Optimizer};
//! let mut adam = Adam::new(AdamConfig { lr: 0.1, ..AdamConfig::default() })?;
//! let mut p = vec![1.0f64, -2.0];
//! adam.step(&mut p, &[0.5, -0.5])?;
//! // The first Adam step moves each parameter by lr against the gradient's sign.
//! assert!((p[0] - 0.9).abs() < 1e-7 && (p[1] + 1.9).abs() < 1e-7);
//! # Ok::<(), symplode_runtime::optim::OptimError>(())
//! ```

mod adam;
mod clip;
mod error;
mod schedule;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use clip::{clip_grad_norm, global_norm};
pub use error::OptimError;
pub use schedule::LrSchedule;
pub use sgd::{Sgd, SgdConfig};

use crate::real::Real;

/// How weight decay enters an update.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum WeightDecay {
    /// No weight decay.
    #[default]
    None,
    /// L2 regularisation: `λ·θ` is added to the gradient before the update (PyTorch `Adam`'s
    /// and `SGD`'s `weight_decay`). With Adam it is rescaled by the adaptive denominator.
    L2(f64),
    /// Decoupled weight decay (Loshchilov & Hutter, AdamW): `θ ← θ·(1 − lr·λ)` before the
    /// gradient update (PyTorch `AdamW`'s `weight_decay`).
    Decoupled(f64),
}

impl WeightDecay {
    /// The coefficient λ (0 for [`WeightDecay::None`]).
    pub fn coefficient(&self) -> f64 {
        match *self {
            WeightDecay::None => 0.0,
            WeightDecay::L2(c) | WeightDecay::Decoupled(c) => c,
        }
    }

    /// A short name: `"none"`, `"l2"` or `"decoupled"`.
    pub fn kind(&self) -> &'static str {
        match self {
            WeightDecay::None => "none",
            WeightDecay::L2(_) => "l2",
            WeightDecay::Decoupled(_) => "decoupled",
        }
    }

    fn validate(&self) -> Result<(), OptimError> {
        let c = self.coefficient();
        if c.is_finite() && c >= 0.0 {
            Ok(())
        } else {
            Err(OptimError::BadOption {
                name: "weight_decay",
                value: c,
                reason: "must be finite and ≥ 0",
            })
        }
    }
}

/// An optimiser's mutable state: what a checkpoint must hold to continue bit-identically.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimState {
    /// Which optimiser wrote it (`"adam"`, `"sgd"`).
    pub kind: String,
    /// Steps taken so far.
    pub step: u64,
    /// The current learning rate (a schedule may have changed it).
    pub lr: f64,
    /// Named per-parameter buffers (PyTorch names: `exp_avg`, `exp_avg_sq`,
    /// `momentum_buffer`), each as long as the parameter vector, or empty before the first step.
    pub buffers: Vec<(String, Vec<f64>)>,
}

impl OptimState {
    /// The buffer called `name`.
    pub fn buffer(&self, name: &str) -> Option<&[f64]> {
        self.buffers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// A first-order optimiser stepping a flat parameter slice with its gradient.
pub trait Optimizer<T: Real>: Send {
    /// A short name (`"adam"`, `"sgd"`).
    fn name(&self) -> &'static str;
    /// One update `params ← params − …(grad)`. Fails, leaving `params` and the state untouched,
    /// when the lengths disagree with each other or with the state, or a gradient entry is not
    /// finite.
    fn step(&mut self, params: &mut [T], grad: &[T]) -> Result<(), OptimError>;
    /// The learning rate of the next step.
    fn lr(&self) -> f64;
    /// Sets the learning rate of the next steps (schedules call this each iteration).
    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError>;
    /// Steps taken so far.
    fn steps(&self) -> u64;
    /// The hyper-parameters, by name, for logs and checkpoint metadata.
    fn hyperparameters(&self) -> Vec<(&'static str, f64)>;
    /// A copy of the mutable state (step count, learning rate, moments).
    fn state(&self) -> OptimState;
    /// Replaces the mutable state with a saved one; fails when it was written by another kind
    /// of optimiser or its buffers are malformed.
    fn load_state(&mut self, state: &OptimState) -> Result<(), OptimError>;
}

/// Checks `lr` is finite and ≥ 0.
fn check_lr(lr: f64) -> Result<(), OptimError> {
    if lr.is_finite() && lr >= 0.0 {
        Ok(())
    } else {
        Err(OptimError::BadOption {
            name: "lr",
            value: lr,
            reason: "must be finite and ≥ 0",
        })
    }
}

/// Checks the parameter and gradient lengths agree with each other and with a state buffer
/// (`state_len == 0` means "not yet allocated"), and that the gradient is finite.
fn check_step<T: Real>(params: &[T], grad: &[T], state_len: usize) -> Result<(), OptimError> {
    if grad.len() != params.len() {
        return Err(OptimError::Length {
            what: "gradient",
            expected: params.len(),
            got: grad.len(),
        });
    }
    if state_len != 0 && state_len != params.len() {
        return Err(OptimError::Length {
            what: "parameters (the optimiser state was built for another size)",
            expected: state_len,
            got: params.len(),
        });
    }
    if let Some(index) = grad.iter().position(|g| !g.is_finite()) {
        return Err(OptimError::NonFiniteGradient {
            index,
            value: grad[index].f64(),
        });
    }
    Ok(())
}

/// Checks a saved state's kind and buffers before loading it.
fn check_state(state: &OptimState, kind: &'static str, names: &[&str]) -> Result<(), OptimError> {
    if state.kind != kind {
        return Err(OptimError::StateKind {
            expected: kind,
            got: state.kind.clone(),
        });
    }
    check_lr(state.lr)?;
    let mut len = None;
    for name in names {
        let Some(buf) = state.buffer(name) else {
            return Err(OptimError::MissingBuffer {
                kind,
                name: (*name).to_owned(),
            });
        };
        match len {
            None => len = Some(buf.len()),
            Some(l) if l != buf.len() => {
                return Err(OptimError::Length {
                    what: "optimiser state buffer",
                    expected: l,
                    got: buf.len(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}
