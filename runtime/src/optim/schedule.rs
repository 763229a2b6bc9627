//! Learning-rate schedules: a pure function of the base rate and the iteration number.

use super::OptimError;

/// How the learning rate changes with the iteration number `i` (0-based: the rate of the first
/// update is `lr(base, 0)`). Being a pure function of `i`, a schedule needs no state of its own
/// in a checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum LrSchedule {
    /// `base` throughout.
    #[default]
    Constant,
    /// Step decay (PyTorch `StepLR`): `base · gamma^⌊i / every⌋`.
    Step {
        /// Iterations between decays (≥ 1).
        every: u64,
        /// Factor per decay, in (0, ∞).
        gamma: f64,
    },
    /// Cosine annealing (PyTorch `CosineAnnealingLR`, one half period):
    /// `min + (base − min)·(1 + cos(π·i/total))/2` for `i < total` (exactly `base` at 0), then
    /// `min`.
    Cosine {
        /// Iterations of the half period (≥ 1).
        total: u64,
        /// The final rate, in [0, base].
        min_lr: f64,
    },
}

impl LrSchedule {
    /// The learning rate at iteration `iteration` for base rate `base`.
    pub fn lr(&self, base: f64, iteration: u64) -> f64 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Step { every, gamma } => {
                let k = iteration / every.max(1);
                base * gamma.powf(k as f64)
            }
            LrSchedule::Cosine { total, min_lr } => {
                let total = total.max(1);
                if iteration >= total {
                    return min_lr;
                }
                // base − (base − min)(1 − cos)/2: exactly `base` at i = 0.
                let frac = iteration as f64 / total as f64;
                base - (base - min_lr) * 0.5 * (1.0 - (std::f64::consts::PI * frac).cos())
            }
        }
    }

    /// Checks the schedule's parameters (and that `min_lr` ≤ `base` for cosine).
    pub fn validate(&self, base: f64) -> Result<(), OptimError> {
        let bad = |name, value, reason| {
            Err(OptimError::BadOption {
                name,
                value,
                reason,
            })
        };
        match *self {
            LrSchedule::Constant => Ok(()),
            LrSchedule::Step { every, gamma } => {
                if every == 0 {
                    return bad("every", 0.0, "step decay needs every ≥ 1");
                }
                if !(gamma.is_finite() && gamma > 0.0) {
                    return bad("gamma", gamma, "must be finite and > 0");
                }
                Ok(())
            }
            LrSchedule::Cosine { total, min_lr } => {
                if total == 0 {
                    return bad("total", 0.0, "cosine annealing needs total ≥ 1");
                }
                if !(min_lr.is_finite() && min_lr >= 0.0 && min_lr <= base) {
                    return bad("min_lr", min_lr, "must be finite, ≥ 0 and ≤ the base rate");
                }
                Ok(())
            }
        }
    }
}
