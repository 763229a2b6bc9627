//! Adam (Kingma & Ba, 2015) with L2 (PyTorch `Adam`) or decoupled (PyTorch `AdamW`) weight decay.

use super::{OptimError, OptimState, Optimizer, WeightDecay, check_lr, check_state, check_step};
use crate::real::Real;

/// Hyper-parameters of [`Adam`] (defaults as PyTorch: lr 1e-3, betas (0.9, 0.999), eps 1e-8).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// β₁, the decay of the first moment.
    pub beta1: f64,
    /// β₂, the decay of the second moment.
    pub beta2: f64,
    /// ε added to the denominator.
    pub eps: f64,
    /// Weight decay: [`WeightDecay::L2`] is PyTorch `Adam`, [`WeightDecay::Decoupled`] is
    /// `AdamW`.
    pub weight_decay: WeightDecay,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: WeightDecay::None,
        }
    }
}

/// The Adam optimiser.
///
/// One step with gradient g, step count t (after increment), in PyTorch's order of operations:
///
/// ```text
/// L2:         g ← g + λ·θ
/// decoupled:  θ ← θ·(1 − lr·λ)
/// m ← m + (1 − β₁)(g − m)            (PyTorch's lerp)
/// v ← β₂·v + (1 − β₂)·g²
/// θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// Arithmetic is in `f64`; the new parameter is rounded to `T` once.
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    config: AdamConfig,
    step: u64,
    m: Vec<f64>,
    v: Vec<f64>,
}

impl Adam {
    /// An optimiser with these hyper-parameters; fails when one is out of range (lr, eps ≥ 0,
    /// 0 ≤ β < 1, weight decay ≥ 0, all finite).
    pub fn new(config: AdamConfig) -> Result<Self, OptimError> {
        check_lr(config.lr)?;
        for (name, b) in [("beta1", config.beta1), ("beta2", config.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(OptimError::BadOption {
                    name,
                    value: b,
                    reason: "must be in [0, 1)",
                });
            }
        }
        if !(config.eps.is_finite() && config.eps >= 0.0) {
            return Err(OptimError::BadOption {
                name: "eps",
                value: config.eps,
                reason: "must be finite and ≥ 0",
            });
        }
        config.weight_decay.validate()?;
        Ok(Adam {
            config,
            step: 0,
            m: Vec::new(),
            v: Vec::new(),
        })
    }

    /// The hyper-parameters (with the current learning rate).
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// The first moments (empty before the first step).
    pub fn exp_avg(&self) -> &[f64] {
        &self.m
    }

    /// The second moments (empty before the first step).
    pub fn exp_avg_sq(&self) -> &[f64] {
        &self.v
    }
}

impl<T: Real> Optimizer<T> for Adam {
    fn name(&self) -> &'static str {
        "adam"
    }

    fn step(&mut self, params: &mut [T], grad: &[T]) -> Result<(), OptimError> {
        check_step(params, grad, self.m.len())?;
        if self.m.is_empty() {
            self.m = vec![0.0; params.len()];
            self.v = vec![0.0; params.len()];
        }
        self.step += 1;
        let c = self.config;
        // Exponents beyond i32 leave the powers at 0 (β < 1), as they are long before that.
        let t = i32::try_from(self.step).unwrap_or(i32::MAX);
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
        let step_size = c.lr / bias1;
        let (l2, decay) = match c.weight_decay {
            WeightDecay::None => (0.0, 1.0),
            WeightDecay::L2(l) => (l, 1.0),
            WeightDecay::Decoupled(l) => (0.0, 1.0 - c.lr * l),
        };
        for (((p, &g), m), v) in params
            .iter_mut()
            .zip(grad)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            let mut theta = p.f64();
            let mut g = g.f64();
            if l2 != 0.0 {
                g += l2 * theta;
            }
            if decay != 1.0 {
                theta *= decay;
            }
            *m += (1.0 - c.beta1) * (g - *m);
            *v = *v * c.beta2 + (1.0 - c.beta2) * g * g;
            let denom = v.sqrt() / bias2_sqrt + c.eps;
            theta -= step_size * (*m / denom);
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
            ("beta1", c.beta1),
            ("beta2", c.beta2),
            ("eps", c.eps),
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
            kind: "adam".into(),
            step: self.step,
            lr: self.config.lr,
            buffers: vec![
                ("exp_avg".into(), self.m.clone()),
                ("exp_avg_sq".into(), self.v.clone()),
            ],
        }
    }

    fn load_state(&mut self, state: &OptimState) -> Result<(), OptimError> {
        check_state(state, "adam", &["exp_avg", "exp_avg_sq"])?;
        let buf = |n| state.buffer(n).unwrap_or_default().to_vec();
        self.m = buf("exp_avg");
        self.v = buf("exp_avg_sq");
        self.step = state.step;
        self.config.lr = state.lr;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_options() {
        let bad = |c: AdamConfig| Adam::new(c).unwrap_err();
        let d = AdamConfig::default();
        assert!(matches!(
            bad(AdamConfig { beta1: 1.0, ..d }),
            OptimError::BadOption { name: "beta1", .. }
        ));
        assert!(matches!(
            bad(AdamConfig { lr: f64::NAN, ..d }),
            OptimError::BadOption { name: "lr", .. }
        ));
        assert!(matches!(
            bad(AdamConfig {
                weight_decay: WeightDecay::L2(-1.0),
                ..d
            }),
            OptimError::BadOption {
                name: "weight_decay",
                ..
            }
        ));
    }

    #[test]
    fn length_and_finiteness_checked_without_side_effects() {
        let mut adam = Adam::new(AdamConfig::default()).unwrap();
        let mut p = vec![1.0f64, 2.0];
        let e = Optimizer::<f64>::step(&mut adam, &mut p, &[1.0]).unwrap_err();
        assert!(matches!(e, OptimError::Length { .. }));
        let e = Optimizer::<f64>::step(&mut adam, &mut p, &[1.0, f64::NAN]).unwrap_err();
        assert!(matches!(e, OptimError::NonFiniteGradient { index: 1, .. }));
        assert_eq!(p, [1.0, 2.0]);
        assert_eq!(Optimizer::<f64>::steps(&adam), 0);
        Optimizer::<f64>::step(&mut adam, &mut p, &[1.0, 1.0]).unwrap();
        let mut q = vec![0.0f64; 3];
        let e = Optimizer::<f64>::step(&mut adam, &mut q, &[0.0; 3]).unwrap_err();
        assert!(matches!(e, OptimError::Length { expected: 2, .. }));
    }
}
