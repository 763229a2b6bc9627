//! Errors of the solvers and gradient methods.

use symplode_codegen::tableau::TableauError;

/// What went wrong in a solve or a gradient computation, and where.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    /// The tableau is invalid or has no symplectic partner.
    #[error("tableau: {0}")]
    Tableau(#[from] TableauError),
    /// A slice has the wrong length.
    #[error("{what}: expected {expected} values, got {got}")]
    Length {
        /// Which input.
        what: String,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// Two components of a chain disagree on the state dimension.
    #[error(
        "component {component}: state dimension {got} does not match the previous component's {expected}"
    )]
    DimensionMismatch {
        /// Component index (0-based).
        component: usize,
        /// Expected dimension.
        expected: usize,
        /// Actual dimension.
        got: usize,
    },
    /// Output times are not strictly increasing or not finite.
    #[error(
        "component {component}: times must be finite and strictly increasing, but t[{index}] = {} follows {}", time(.value), time(.previous)
    )]
    BadTimes {
        /// Component index.
        component: usize,
        /// Index of the offending time.
        index: usize,
        /// The offending time.
        value: f64,
        /// The time before it.
        previous: f64,
    },
    /// Fewer than two times given.
    #[error(
        "component {component}: need a start time and at least one output time, got {got} time(s)"
    )]
    TooFewTimes {
        /// Component index.
        component: usize,
        /// Number of times given.
        got: usize,
    },
    /// A non-finite value appeared in the state.
    #[error("non-finite state ({what}) in component {component} at step {step}, t = {}", time(.t))]
    NonFinite {
        /// Which quantity (state, adjoint, initial state, cotangent).
        what: &'static str,
        /// Component index.
        component: usize,
        /// Step number within the component (accepted steps so far).
        step: usize,
        /// Time.
        t: f64,
    },
    /// The adaptive controller shrank the step below the minimum (or below what t can resolve).
    #[error(
        "step size underflow in component {component} at t = {}: h = {h:e} (min step {min_step:e})", time(.t)
    )]
    StepSizeUnderflow {
        /// Component index.
        component: usize,
        /// Time at which the step failed.
        t: f64,
        /// The rejected step size.
        h: f64,
        /// The configured minimum.
        min_step: f64,
    },
    /// The step budget of one solve was exceeded.
    #[error(
        "step budget exceeded in component {component}: {max_steps} steps taken by t = {} (end {})", time(.t), time(.t_end)
    )]
    TooManySteps {
        /// Component index.
        component: usize,
        /// The budget.
        max_steps: usize,
        /// Time reached.
        t: f64,
        /// Target time.
        t_end: f64,
    },
    /// Adaptive stepping needs a tableau with an embedded error estimate.
    #[error(
        "tableau '{0}' has no embedded error estimate: use fixed steps or an adaptive tableau (bosh3, dopri5, …)"
    )]
    NotAdaptive(String),
    /// An option is out of range.
    #[error("invalid option {name} = {value}: {reason}")]
    BadOption {
        /// Option name.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is required.
        reason: &'static str,
    },
    /// A Hessian-vector product needs second derivatives of a component's dynamics, which
    /// that model does not provide.
    #[error(
        "component {0}: its dynamics have no second-order capability (Hessian-vector products need an interpreted IR model or the built-in Mlp)"
    )]
    NoSecondOrder(usize),
    /// Building a component's tangent system failed.
    #[error("component {component}: tangent system: {source}")]
    SecondOrder {
        /// Component index.
        component: usize,
        /// What failed.
        source: crate::interp::InterpError,
    },
    /// A grid to replay does not fit the component's times.
    #[error(
        "component {0}: the step grid to replay does not start at the start time or does not land on every output time"
    )]
    GridMismatch(usize),
    /// An error of one sample's integration under per-sample steps.
    #[error("sample {sample}: {source}")]
    InSample {
        /// The sample (row of the batch).
        sample: usize,
        /// What went wrong in its integration.
        source: Box<SolveError>,
    },
}

/// A time for a message: plain decimals in the usual range, scientific notation outside it
/// (so t = 1e308 is `1e308`, not 309 digits).
fn time(t: &f64) -> String {
    let a = t.abs();
    if a.is_finite() && a != 0.0 && !(1e-4..1e6).contains(&a) {
        format!("{t:e}")
    } else {
        format!("{t}")
    }
}
