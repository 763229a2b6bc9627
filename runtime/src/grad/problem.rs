//! A chained neural-ODE problem: components, times, the initial state, the scheme and stepping.

use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::real::Real;
use crate::scheme::Scheme;
use crate::solver::{Stepping, rms_norm};

/// States at output times: `[component][output k][batch·dim]`.
pub type Outputs<T> = Vec<Vec<Vec<T>>>;

/// One ODE component of a chain: its dynamics and its times (`times[0]` is the start, the
/// rest are output times, strictly increasing).
pub struct Component<'a, T: Real> {
    /// The right-hand side.
    pub dynamics: &'a dyn Dynamics<T>,
    /// Start time followed by the output times.
    pub times: Vec<f64>,
}

/// M chained components: component m starts from the final state of component m − 1.
pub struct Problem<'a, T: Real> {
    /// The components, in order.
    pub chain: Vec<Component<'a, T>>,
    /// The Runge–Kutta scheme.
    pub scheme: &'a Scheme<T>,
    /// Fixed or adaptive steps.
    pub stepping: Stepping,
    /// Initial state, `[batch·dim]` row-major.
    pub x0: &'a [T],
}

impl<'a, T: Real> Problem<'a, T> {
    /// A single-component problem.
    pub fn single(
        dynamics: &'a dyn Dynamics<T>,
        times: &[f64],
        scheme: &'a Scheme<T>,
        stepping: Stepping,
        x0: &'a [T],
    ) -> Self {
        Problem {
            chain: vec![Component {
                dynamics,
                times: times.to_vec(),
            }],
            scheme,
            stepping,
            x0,
        }
    }

    /// State dimension (of the first component).
    pub fn dim(&self) -> usize {
        self.chain.first().map_or(1, |c| c.dynamics.dim().max(1))
    }

    /// Samples in the batch.
    pub fn batch(&self) -> usize {
        self.x0.len() / self.dim()
    }

    /// Checks shapes, times and options; every error says what and where.
    pub fn validate(&self) -> Result<(), SolveError> {
        self.stepping.validate()?;
        let Some(first) = self.chain.first() else {
            return Err(SolveError::BadOption {
                name: "chain",
                value: "[]".into(),
                reason: "need at least one component",
            });
        };
        let d = first.dynamics.dim();
        if d == 0 {
            return Err(SolveError::BadOption {
                name: "dim",
                value: "0".into(),
                reason: "the state dimension must be ≥ 1",
            });
        }
        if self.x0.is_empty() || !self.x0.len().is_multiple_of(d) {
            return Err(SolveError::Length {
                what: format!("x0 (a multiple of the state dimension {d})"),
                expected: d * (self.x0.len() / d).max(1),
                got: self.x0.len(),
            });
        }
        for (m, c) in self.chain.iter().enumerate() {
            if c.dynamics.dim() != d {
                return Err(SolveError::DimensionMismatch {
                    component: m,
                    expected: d,
                    got: c.dynamics.dim(),
                });
            }
            if c.times.len() < 2 {
                return Err(SolveError::TooFewTimes {
                    component: m,
                    got: c.times.len(),
                });
            }
            for (i, w) in c.times.windows(2).enumerate() {
                if !(w[0].is_finite() && w[1].is_finite() && w[1] > w[0]) {
                    return Err(SolveError::BadTimes {
                        component: m,
                        index: i + 1,
                        value: w[1],
                        previous: w[0],
                    });
                }
            }
        }
        Ok(())
    }

    /// A zeroed output buffer of the right shape.
    pub fn zero_outputs(&self) -> Outputs<T> {
        self.chain
            .iter()
            .map(|c| vec![vec![T::zero(); self.x0.len()]; c.times.len() - 1])
            .collect()
    }
}

/// The state error norm for this stepping (RMS over the whole tensor).
pub(crate) fn state_norm<T: Real>(stepping: &Stepping) -> impl Fn(&[T], &[T], &[T]) -> f64 {
    let (rtol, atol) = stepping.tolerances();
    move |v: &[T], y0: &[T], y1: &[T]| rms_norm(v, y0, y1, rtol, atol)
}

/// Checks the cotangents the loss wrote are finite.
pub(crate) fn check_cotangents<T: Real>(cot: &Outputs<T>) -> Result<(), SolveError> {
    for (m, comp) in cot.iter().enumerate() {
        for (k, v) in comp.iter().enumerate() {
            if v.iter().any(|x| !x.is_finite()) {
                return Err(SolveError::NonFinite {
                    what: "cotangent from the loss",
                    component: m,
                    step: k + 1,
                    t: f64::NAN,
                });
            }
        }
    }
    Ok(())
}
