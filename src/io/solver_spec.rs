//! [`SolverSpec`]: the `[solver]` section of a model spec (and the command line's solver
//! options), turned into a [`Stepping`].

use serde::{Deserialize, Serialize};
use symplode_runtime::{Adaptive, SolveError, Stepping};

use super::IoError;

/// Step options: `steps` (fixed steps per output interval) **or** `rtol`/`atol` (adaptive),
/// with `first_step` and `max_steps` for adaptive stepping.
///
/// ```toml
/// [solver]
/// rtol = 1e-6        # adaptive; a missing rtol or atol takes torchdiffeq's default (1e-7 / 1e-9)
/// atol = 1e-8
/// first_step = 0.01  # optional; default: Hairer's initial step selection
/// max_steps = 10000  # optional; budget of accepted + rejected steps (default 100000)
/// # steps = 20       # fixed steps instead (no rtol, atol, first_step, max_steps)
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SolverSpec {
    /// Fixed steps per output interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// Relative tolerance of adaptive steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtol: Option<f64>,
    /// Absolute tolerance of adaptive steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atol: Option<f64>,
    /// First adaptive step (default: Hairer's selection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_step: Option<f64>,
    /// Budget of accepted plus rejected adaptive steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
}

impl SolverSpec {
    /// True when no option is set.
    pub fn is_empty(&self) -> bool {
        *self == SolverSpec::default()
    }

    /// True when adaptive options (`rtol`, `atol`) are set.
    fn is_adaptive(&self) -> bool {
        self.rtol.is_some() || self.atol.is_some()
    }

    /// These options with `over`'s on top (command-line options over the spec's): `over.steps`
    /// switches to fixed steps (dropping this spec's adaptive options), `over.rtol`/`atol`
    /// switch to adaptive steps (dropping this spec's `steps`); every option `over` sets
    /// replaces this one's.
    pub fn overridden_by(&self, over: &SolverSpec) -> SolverSpec {
        let mut out = self.clone();
        if over.steps.is_some() {
            out = SolverSpec::default();
        } else if over.is_adaptive() {
            out.steps = None;
        }
        out.steps = over.steps.or(out.steps);
        out.rtol = over.rtol.or(out.rtol);
        out.atol = over.atol.or(out.atol);
        out.first_step = over.first_step.or(out.first_step);
        out.max_steps = over.max_steps.or(out.max_steps);
        out
    }

    /// Checks the options fit together (`origin` names their source in errors).
    ///
    /// # Errors
    /// [`IoError::Field`] for `steps` together with an adaptive option.
    pub fn check(&self, origin: &str) -> Result<(), IoError> {
        if self.steps.is_none() {
            return Ok(());
        }
        let clash = [
            ("rtol", self.rtol.is_some()),
            ("atol", self.atol.is_some()),
            ("first_step", self.first_step.is_some()),
            ("max_steps", self.max_steps.is_some()),
        ];
        match clash.iter().find(|(_, set)| *set) {
            None => Ok(()),
            Some((name, _)) => Err(IoError::Field {
                origin: origin.to_string(),
                field: format!("solver.{name}"),
                reason: "is an adaptive-step option and cannot be combined with fixed `steps`"
                    .into(),
            }),
        }
    }

    /// The stepping these options describe, or `None` when neither `steps` nor `rtol`/`atol`
    /// is set.
    ///
    /// # Errors
    /// Those of [`SolverSpec::check`]; [`IoError::Field`] for an out-of-range value (zero
    /// steps, negative tolerance, …) or `first_step`/`max_steps` without `rtol`/`atol`.
    pub fn stepping(&self, origin: &str) -> Result<Option<Stepping>, IoError> {
        self.check(origin)?;
        let stepping = if let Some(steps) = self.steps {
            Stepping::fixed(steps)
        } else if self.is_adaptive() {
            let d = Adaptive::default();
            let mut a = Adaptive::tol(self.rtol.unwrap_or(d.rtol), self.atol.unwrap_or(d.atol));
            a.first_step = self.first_step;
            a.max_steps = self.max_steps.unwrap_or(d.max_steps);
            Stepping::Adaptive(a)
        } else if self.first_step.is_some() || self.max_steps.is_some() {
            let name = if self.first_step.is_some() {
                "first_step"
            } else {
                "max_steps"
            };
            return Err(IoError::Field {
                origin: origin.to_string(),
                field: format!("solver.{name}"),
                reason: "is an adaptive-step option: also give rtol/atol".into(),
            });
        } else {
            return Ok(None);
        };
        stepping.validate().map_err(|e| match e {
            SolveError::BadOption {
                name,
                value,
                reason,
            } => IoError::Field {
                origin: origin.to_string(),
                field: format!("solver.{name}"),
                reason: format!("{value} is invalid: {reason}"),
            },
            other => IoError::Field {
                origin: origin.to_string(),
                field: "solver".into(),
                reason: other.to_string(),
            },
        })?;
        Ok(Some(stepping))
    }
}
