//! Stochastic gradient descent with optional (Nesterov) momentum, as PyTorch `SGD`.

use super::{OptimError, OptimState, Optimizer, WeightDecay, check_lr, check_state, check_step};
use crate::real::Real;

/// Hyper-parameters of [`Sgd`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum μ (0 for plain SGD).
    pub momentum: f64,
    /// Dampening of the momentum buffer's update.
    pub dampening: f64,
    /// Nesterov momentum (needs μ > 0 and no dampening).
    pub nesterov: bool,
    /// Weight decay ([`WeightDecay::L2`] is PyTorch `SGD`'s `weight_decay`).
    pub weight_decay: WeightDecay,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-2,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: WeightDecay::None,
        }
    }
}

/// The SGD optimiser. One step with gradient g, in PyTorch's order of operations:
///
/// ```text
/// L2:         g ← g + λ·θ
/// decoupled:  θ ← θ·(1 − lr·λ)
/// momentum:   b ← g (first step) or b ← μ·b + (1 − dampening)·g;  g ← g + μ·b (Nesterov) or b
/// θ ← θ − lr·g
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Sgd {
    config: SgdConfig,
    step: u64,
    buf: Vec<f64>,
}

impl Sgd {
    /// An optimiser with these hyper-parameters; fails when one is out of range.
    pub fn new(config: SgdConfig) -> Result<Self, OptimError> {
        check_lr(config.lr)?;
        for (name, x) in [
            ("momentum", config.momentum),
            ("dampening", config.dampening),
        ] {
            if !(x.is_finite() && x >= 0.0) {
                return Err(OptimError::BadOption {
                    name,
                    value: x,
                    reason: "must be finite and ≥ 0",
                });
            }
        }
        if config.nesterov && (config.momentum <= 0.0 || config.dampening != 0.0) {
            return Err(OptimError::BadOption {
                name: "nesterov",
                value: 1.0,
                reason: "Nesterov momentum needs momentum > 0 and dampening = 0",
            });
        }
        config.weight_decay.validate()?;
        Ok(Sgd {
            config,
            step: 0,
            buf: Vec::new(),
        })
    }

    /// The hyper-parameters (with the current learning rate).
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// The momentum buffer (empty before the first step or without momentum).
    pub fn momentum_buffer(&self) -> &[f64] {
        &self.buf
    }
}

impl<T: Real> Optimizer<T> for Sgd {
    fn name(&self) -> &'static str {
        "sgd"
    }

    fn step(&mut self, params: &mut [T], grad: &[T]) -> Result<(), OptimError> {
        check_step(params, grad, self.buf.len())?;
        let c = self.config;
        let first = self.buf.is_empty();
        if c.momentum != 0.0 && first {
            self.buf = vec![0.0; params.len()];
        }
        self.step += 1;
        let (l2, decay) = match c.weight_decay {
            WeightDecay::None => (0.0, 1.0),
            WeightDecay::L2(l) => (l, 1.0),
            WeightDecay::Decoupled(l) => (0.0, 1.0 - c.lr * l),
        };
        for (i, (p, &g)) in params.iter_mut().zip(grad).enumerate() {
            let mut theta = p.f64();
            let mut g = g.f64();
            if l2 != 0.0 {
                g += l2 * theta;
            }
            if decay != 1.0 {
                theta *= decay;
            }
            if c.momentum != 0.0 {
                let b = &mut self.buf[i];
                *b = if first {
                    g
                } else {
                    *b * c.momentum + (1.0 - c.dampening) * g
                };
                g = if c.nesterov { g + c.momentum * *b } else { *b };
            }
            theta -= c.lr * g;
            *p = T::of(theta);
        }
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError> {
        check_lr(lr)?;
        self.config.lr = lr;
        Ok(())
    }

    fn steps(&self) -> u64 {
        self.step
    }

    fn hyperparameters(&self) -> Vec<(&'static str, f64)> {
        let c = &self.config;
        vec![
            ("lr", c.lr),
            ("momentum", c.momentum),
            ("dampening", c.dampening),
            ("nesterov", f64::from(u8::from(c.nesterov))),
            ("weight_decay", c.weight_decay.coefficient()),
            (
                "decoupled_weight_decay",
                f64::from(u8::from(matches!(
                    c.weight_decay,
                    WeightDecay::Decoupled(_)
                ))),
            ),
        ]
    }

    fn state(&self) -> OptimState {
        OptimState {
            kind: "sgd".into(),
            step: self.step,
            lr: self.config.lr,
            buffers: vec![("momentum_buffer".into(), self.buf.clone())],
        }
    }

    fn load_state(&mut self, state: &OptimState) -> Result<(), OptimError> {
        check_state(state, "sgd", &["momentum_buffer"])?;
        self.buf = state.buffer("momentum_buffer").unwrap_or_default().to_vec();
        self.step = state.step;
        self.config.lr = state.lr;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesterov_needs_momentum() {
        let e = Sgd::new(SgdConfig {
            nesterov: true,
            ..SgdConfig::default()
        })
        .unwrap_err();
        assert!(matches!(
            e,
            OptimError::BadOption {
                name: "nesterov",
                ..
            }
        ));
    }

    #[test]
    fn state_of_wrong_kind_rejected() {
        let mut sgd = Sgd::new(SgdConfig::default()).unwrap();
        let state = OptimState {
            kind: "adam".into(),
            step: 3,
            lr: 0.1,
            buffers: vec![],
        };
        let e = Optimizer::<f64>::load_state(&mut sgd, &state).unwrap_err();
        assert!(matches!(
            e,
            OptimError::StateKind {
                expected: "sgd",
                ..
            }
        ));
    }
}
