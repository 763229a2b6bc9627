//! The one error type of the tableau module.
//!
//! Every variant says *what* is wrong and *where*. Stage indices (`i`, `j`, `k`) are
//! **1-based**, as in the Butcher notation `a_ij`, both in the fields and in the messages.

use thiserror::Error;

/// A rational for a message: exact when short, otherwise its `f64` value and its length.
fn short_rational(exact: &str, approx: f64) -> String {
    if exact.len() <= 40 {
        format!("{exact} (≈ {approx:e})")
    } else {
        format!(
            "≈ {approx:e} (exact rational of {} characters)",
            exact.len()
        )
    }
}

/// The details of [`TableauError::OrderNotMet`]: which weights, which tree, by how much.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderFailure {
    /// Name of the tableau.
    pub name: String,
    /// `"b"` (propagating weights) or `"b_hat"` (embedded weights).
    pub weights: &'static str,
    /// The order that was claimed.
    pub claimed: u32,
    /// The failing tree in bracket notation, e.g. `[[τ]τ]`.
    pub tree: String,
    /// The order (node count) of the failing tree.
    pub order: u32,
    /// `Φ(t) − 1/γ(t)` as an exact rational.
    pub residual: String,
    /// The residual rounded to `f64`, for reading.
    pub residual_f64: f64,
    /// `1/γ(t)`.
    pub expected: String,
    /// Empty for exact checks, otherwise `" (tolerance …)"`.
    pub tolerance: String,
}

impl std::fmt::Display for OrderFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tableau `{}` does not have order {} with weights {}: the order-{} condition for \
             tree {} fails: Φ(t) − 1/γ(t) = {}, expected Φ(t) = {}{}",
            self.name,
            self.claimed,
            self.weights,
            self.order,
            self.tree,
            short_rational(&self.residual, self.residual_f64),
            self.expected,
            self.tolerance
        )
    }
}

/// Everything that can go wrong when building, checking or pairing a Butcher tableau.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum TableauError {
    /// The tableau has no stages (`b` is empty).
    #[error("tableau `{name}` has no stages: the weight vector b is empty")]
    EmptyTableau {
        /// Name of the tableau.
        name: String,
    },

    /// A vector or a row of `A` has the wrong length.
    #[error("tableau `{name}`: {what} has length {got}, expected {expected}")]
    Shape {
        /// Name of the tableau.
        name: String,
        /// Which vector or row, e.g. `"row 3 of A"`, `"c"`, `"b_hat"`.
        what: String,
        /// The accepted length(s), e.g. `"7"` or `"7 (full row) or 2 (lower-triangular row)"`.
        expected: String,
        /// The length that was given.
        got: usize,
    },

    /// `A` has a non-zero entry on or above the diagonal: the method is not explicit.
    #[error(
        "tableau `{name}` is not explicit: a_{i}{j} = {value} is on or above the diagonal \
         (explicit methods need a_ij = 0 for j >= i)"
    )]
    NotExplicit {
        /// Name of the tableau.
        name: String,
        /// Row (stage), 1-based.
        i: usize,
        /// Column, 1-based.
        j: usize,
        /// The offending entry.
        value: String,
    },

    /// `c_i` differs from the row sum of `A` (by more than the tolerance, if one was given).
    #[error(
        "tableau `{name}`: stage {i} is inconsistent: c_{i} = {c_i} but row {i} of A sums to \
         {row_sum}{tolerance}"
    )]
    Inconsistent {
        /// Name of the tableau.
        name: String,
        /// Stage, 1-based.
        i: usize,
        /// The given node `c_i`.
        c_i: String,
        /// `Σ_j a_ij`.
        row_sum: String,
        /// Empty for exact checks, otherwise `" (tolerance …)"`.
        tolerance: String,
    },

    /// An order condition `Φ(t) = 1/γ(t)` fails for the named weights (boxed to keep the
    /// error small).
    #[error("{0}")]
    OrderNotMet(Box<OrderFailure>),

    /// The claimed order exceeds what the rooted-tree enumeration covers.
    #[error(
        "tableau `{name}`: claimed {weights} order {claimed} is too high: order conditions are \
         enumerated up to order {max}"
    )]
    ClaimedOrderTooHigh {
        /// Name of the tableau.
        name: String,
        /// `"b"` or `"b_hat"`.
        weights: &'static str,
        /// The claimed order.
        claimed: u32,
        /// The highest order supported.
        max: u32,
    },

    /// Embedded weights and embedded order must be given together.
    #[error("tableau `{name}`: {reason}")]
    InvalidEmbedded {
        /// Name of the tableau.
        name: String,
        /// What is inconsistent.
        reason: String,
    },

    /// A name not in [`BUILTIN_NAMES`](super::BUILTIN_NAMES).
    #[error("unknown tableau `{name}`; known tableaux: {}", known.join(", "))]
    UnknownTableau {
        /// The name asked for.
        name: String,
        /// All built-in names.
        known: Vec<String>,
    },

    /// A rational number could not be parsed.
    #[error("cannot parse `{text}` as an exact rational: {reason}")]
    Parse {
        /// The text as given.
        text: String,
        /// Why it was rejected.
        reason: String,
    },

    /// No symplectic partner (explicit adjoint) exists for this tableau.
    #[error("tableau `{name}` has no symplectic partner: {reason}")]
    NoPartner {
        /// Name of the tableau.
        name: String,
        /// Why not.
        reason: String,
    },

    /// A user-supplied adjoint tableau violates `b_i A_ij + B_j a_ji − b_i B_j = 0`,
    /// or a partner's adjoint recursion is not the transpose of the forward step.
    #[error(
        "tableau `{name}`: the adjoint is not a symplectic partner: identity {identity} fails at \
         (i, j) = ({i}, {j}) with residual {residual}"
    )]
    NotSymplecticPair {
        /// Name of the forward tableau.
        name: String,
        /// Which identity, e.g. `"b_i A_ij + B_j a_ji - b_i B_j = 0"`.
        identity: String,
        /// Row, 1-based.
        i: usize,
        /// Column, 1-based.
        j: usize,
        /// The non-zero residual (a rational, or a polynomial in h).
        residual: String,
    },

    /// A user-supplied adjoint has `B_i ≠ b_i` or `C_i ≠ c_i`.
    #[error(
        "tableau `{name}`: the adjoint's {vector}_{i} = {got} must equal the forward {expected_name}_{i} = {expected}"
    )]
    AdjointMismatch {
        /// Name of the forward tableau.
        name: String,
        /// `"B"` or `"C"`.
        vector: &'static str,
        /// `"b"` or `"c"`.
        expected_name: &'static str,
        /// Stage, 1-based.
        i: usize,
        /// The forward value.
        expected: String,
        /// The adjoint's value.
        got: String,
    },

    /// The tolerance of [`Tableau::new_with_tolerance`](super::Tableau::new_with_tolerance)
    /// is negative or so large that it would excuse conditions that do not hold.
    #[error(
        "tableau `{name}`: tolerance {tolerance} is not allowed: it must be ≥ 0 and at most \
         {max} (a tolerance only excuses the rounding of published decimal coefficients)"
    )]
    BadTolerance {
        /// Name of the tableau.
        name: String,
        /// The tolerance given (shortened).
        tolerance: String,
        /// The largest tolerance allowed.
        max: String,
    },

    /// A coefficient's magnitude is beyond the range of `f64`, so the kernels could not use it.
    #[error(
        "tableau `{name}`: coefficient {what} = {value} is beyond the range of f64 \
         (|x| ≤ 1.8e308)"
    )]
    CoefficientOutOfRange {
        /// Name of the tableau.
        name: String,
        /// Which coefficient, 1-based: `a_32`, `b_4`, `c_2`, `b_hat_1`.
        what: String,
        /// The value (shortened).
        value: String,
    },

    /// More stages than supported (validation time grows with the stage count).
    #[error("tableau `{name}` has {stages} stages; at most {max} are supported")]
    TooManyStages {
        /// Name of the tableau.
        name: String,
        /// The stage count given.
        stages: usize,
        /// The limit.
        max: usize,
    },

    /// A built-in tableau derived from free parameters could not be derived
    /// (an internal invariant; never expected).
    #[error("tableau `{name}`: derivation failed: {reason}")]
    Derivation {
        /// Name of the tableau.
        name: String,
        /// What failed.
        reason: String,
    },
}

impl TableauError {
    /// The details when this is [`TableauError::OrderNotMet`].
    pub fn order_failure(&self) -> Option<&OrderFailure> {
        match self {
            TableauError::OrderNotMet(f) => Some(f),
            _ => None,
        }
    }
}
