//! Step-size options: fixed steps per output interval or adaptive steps.

use crate::error::SolveError;

/// How an adaptive controller turns an error ratio into the next step size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Controller {
    /// Integral controller (torchdiffeq's): h·min(10, max(0.9·r^(−1/q), 0.2)); an accepted step
    /// never shrinks the next one.
    I,
    /// Proportional–integral controller: h·0.9·r^(−β₁/q)·r_prev^(β₂/q), clamped like `I`.
    Pi {
        /// β₁ (Hairer's default 0.7).
        beta1: f64,
        /// β₂ (Hairer's default 0.4).
        beta2: f64,
    },
}

/// Options of adaptive stepping (defaults follow torchdiffeq: rtol 1e-7, atol 1e-9).
#[derive(Clone, Debug, PartialEq)]
pub struct Adaptive {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// First step; `None` selects it with Hairer's algorithm (II.4).
    pub first_step: Option<f64>,
    /// Smallest step allowed before failing with `StepSizeUnderflow`.
    pub min_step: f64,
    /// Largest step allowed.
    pub max_step: f64,
    /// Budget of accepted plus rejected steps per component.
    pub max_steps: usize,
    /// Step-size controller.
    pub controller: Controller,
    /// Safety factor (0.9).
    pub safety: f64,
    /// Largest growth per step (10).
    pub max_growth: f64,
    /// Smallest shrink factor per step (0.2).
    pub min_shrink: f64,
    /// Per-sample steps: every sample (row of the batch) has its own time, step size, error
    /// norm (RMS over its own components) and accept/reject decisions, as if it were solved
    /// alone; each evaluation runs on the still-active samples at their own times
    /// ([`Dynamics::eval_at`](crate::Dynamics::eval_at)). Off (false): one step size for the
    /// batch, the error norm over the whole tensor (torchdiffeq's behaviour).
    pub per_sample: bool,
}

impl Default for Adaptive {
    fn default() -> Self {
        Adaptive {
            rtol: 1e-7,
            atol: 1e-9,
            first_step: None,
            min_step: 0.0,
            max_step: f64::INFINITY,
            max_steps: 100_000,
            controller: Controller::I,
            safety: 0.9,
            max_growth: 10.0,
            min_shrink: 0.2,
            per_sample: false,
        }
    }
}

impl Adaptive {
    /// Adaptive stepping with these tolerances and the other options at their defaults.
    pub fn tol(rtol: f64, atol: f64) -> Self {
        Adaptive {
            rtol,
            atol,
            ..Adaptive::default()
        }
    }
}

/// Fixed or adaptive steps.
#[derive(Clone, Debug, PartialEq)]
pub enum Stepping {
    /// `steps` equal steps in every output interval.
    Fixed {
        /// Steps per output interval (≥ 1).
        steps: usize,
    },
    /// Adaptive steps, clipped to land on every output time.
    Adaptive(Adaptive),
}

impl Stepping {
    /// Fixed stepping with `steps` steps per output interval.
    pub fn fixed(steps: usize) -> Self {
        Stepping::Fixed { steps }
    }
    /// Adaptive stepping with these tolerances.
    pub fn adaptive(rtol: f64, atol: f64) -> Self {
        Stepping::Adaptive(Adaptive::tol(rtol, atol))
    }

    /// Per-sample adaptive steps (see [`Adaptive::per_sample`]); fixed stepping is unchanged
    /// (its steps are already the same for every sample).
    ///
    /// ```
    /// use symplode_runtime::Stepping;
    /// let s = Stepping::adaptive(1e-6, 1e-8).per_sample();
    /// assert!(s.is_per_sample());
    /// assert!(!Stepping::fixed(4).per_sample().is_per_sample());
    /// ```
    pub fn per_sample(self) -> Self {
        match self {
            Stepping::Adaptive(a) => Stepping::Adaptive(Adaptive {
                per_sample: true,
                ..a
            }),
            fixed => fixed,
        }
    }

    /// Whether every sample takes its own adaptive steps.
    pub fn is_per_sample(&self) -> bool {
        matches!(self, Stepping::Adaptive(a) if a.per_sample)
    }

    /// The same stepping with one step size for the whole batch.
    pub fn per_batch(&self) -> Self {
        match self {
            Stepping::Adaptive(a) => Stepping::Adaptive(Adaptive {
                per_sample: false,
                ..a.clone()
            }),
            fixed => fixed.clone(),
        }
    }

    /// (rtol, atol) of the error norm; fixed stepping has no error test and reports (0, 1).
    pub fn tolerances(&self) -> (f64, f64) {
        match self {
            Stepping::Adaptive(a) => (a.rtol, a.atol),
            Stepping::Fixed { .. } => (0.0, 1.0),
        }
    }

    /// Checks the options are usable.
    pub fn validate(&self) -> Result<(), SolveError> {
        let bad = |name, value: f64, reason| {
            Err(SolveError::BadOption {
                name,
                value: value.to_string(),
                reason,
            })
        };
        match self {
            Stepping::Fixed { steps } => {
                if *steps == 0 {
                    return Err(SolveError::BadOption {
                        name: "steps",
                        value: "0".into(),
                        reason: "need at least one step per interval",
                    });
                }
            }
            Stepping::Adaptive(a) => {
                if !(a.rtol >= 0.0 && a.rtol.is_finite()) {
                    return bad("rtol", a.rtol, "must be finite and ≥ 0");
                }
                if !(a.atol >= 0.0 && a.atol.is_finite()) {
                    return bad("atol", a.atol, "must be finite and ≥ 0");
                }
                if a.rtol == 0.0 && a.atol == 0.0 {
                    return bad("atol", a.atol, "rtol and atol cannot both be 0");
                }
                if let Some(h) = a.first_step
                    && !(h > 0.0 && h.is_finite())
                {
                    return bad("first_step", h, "must be finite and > 0");
                }
                if a.min_step.is_nan() || a.min_step < 0.0 {
                    return bad("min_step", a.min_step, "must be ≥ 0");
                }
                if a.max_step.is_nan() || a.max_step <= 0.0 {
                    return bad("max_step", a.max_step, "must be > 0");
                }
                if a.max_steps == 0 {
                    return bad("max_steps", 0.0, "must be ≥ 1");
                }
                if !(a.safety > 0.0 && a.safety <= 1.0) {
                    return bad("safety", a.safety, "must be in (0, 1]");
                }
                if a.max_growth.is_nan() || a.max_growth < 1.0 {
                    return bad("max_growth", a.max_growth, "must be ≥ 1");
                }
                if !(a.min_shrink > 0.0 && a.min_shrink <= 1.0) {
                    return bad("min_shrink", a.min_shrink, "must be in (0, 1]");
                }
            }
        }
        Ok(())
    }
}
