//! A chained neural-ODE problem: components, times, the initial state, the scheme and stepping.

use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::real::Real;
use crate::scheme::Scheme;
use crate::solver::{Stepping, Trajectory, check_state, check_times};

/// States at output times, one [`Trajectory`] per component: `outputs[m][k]` is the
/// `batch·dim` state of component m at its output time k.
pub type Outputs<T> = Vec<Trajectory<T>>;

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

    /// A chain of blocks of equal length (FFJORD's stacked flows): block `b` over
    /// `[b·time_length, (b+1)·time_length]`, in order, from `x0`.
    ///
    /// ```
    /// use symplode_runtime::{Dynamics, Scheme, Stepping, grad::Problem, models::linear::LinearOde};
    ///
    /// let blocks = [
    ///     LinearOde::from_params(1, vec![-1.0]).unwrap(),
    ///     LinearOde::from_params(1, vec![-2.0]).unwrap(),
    /// ];
    /// let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    /// let x0 = [1.0];
    /// let p = Problem::blocks(
    ///     blocks.iter().map(|b| b as &dyn Dynamics<f64>),
    ///     0.5,
    ///     &scheme,
    ///     &Stepping::fixed(4),
    ///     &x0,
    /// );
    /// assert_eq!(p.chain[1].times, [0.5, 1.0]);
    /// ```
    pub fn blocks(
        blocks: impl IntoIterator<Item = &'a dyn Dynamics<T>>,
        time_length: f64,
        scheme: &'a Scheme<T>,
        stepping: &Stepping,
        x0: &'a [T],
    ) -> Self {
        Problem {
            chain: blocks
                .into_iter()
                .enumerate()
                .map(|(b, dynamics)| Component {
                    dynamics,
                    times: vec![b as f64 * time_length, (b + 1) as f64 * time_length],
                })
                .collect(),
            scheme,
            stepping: stepping.clone(),
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
        check_state(d, self.x0)?;
        for (m, c) in self.chain.iter().enumerate() {
            if c.dynamics.dim() != d {
                return Err(SolveError::DimensionMismatch {
                    component: m,
                    expected: d,
                    got: c.dynamics.dim(),
                });
            }
            check_times(m, &c.times)?;
        }
        Ok(())
    }

    /// A zeroed output buffer of the right shape.
    pub fn zero_outputs(&self) -> Outputs<T> {
        self.chain
            .iter()
            .map(|c| Trajectory::zeros(c.times.len() - 1, self.x0.len()))
            .collect()
    }
}

/// Checks the cotangents have the outputs' shape and are finite.
pub(crate) fn check_cotangents<T: Real>(
    outputs: &Outputs<T>,
    cot: &Outputs<T>,
) -> Result<(), SolveError> {
    let shape = |o: &Outputs<T>| {
        o.iter()
            .map(|c| (c.len(), c.state_len()))
            .collect::<Vec<_>>()
    };
    if shape(outputs) != shape(cot) {
        return Err(SolveError::Length {
            what: "cotangents (one per output state, each batch·dim)".into(),
            expected: outputs.iter().map(|c| c.as_slice().len()).sum(),
            got: cot.iter().map(|c| c.as_slice().len()).sum(),
        });
    }
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
