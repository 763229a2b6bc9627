//! Errors of the optimisers, schedules and gradient clipping.

use thiserror::Error;

/// What went wrong in an optimiser step, a schedule or clipping, and where.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum OptimError {
    /// A hyper-parameter is out of range.
    #[error("invalid optimiser option {name} = {value}: {reason}")]
    BadOption {
        /// The option, e.g. `"beta2"`.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What is required.
        reason: &'static str,
    },
    /// Parameters, gradient and state disagree in length.
    #[error("optimiser: {what} has {got} elements, expected {expected}")]
    Length {
        /// Which slice.
        what: &'static str,
        /// The expected length.
        expected: usize,
        /// The actual length.
        got: usize,
    },
    /// A gradient entry is NaN or infinite.
    #[error("optimiser: gradient element {index} is not finite ({value})")]
    NonFiniteGradient {
        /// Index in the flat gradient.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A saved state belongs to another kind of optimiser.
    #[error("optimiser state was written by `{got}`, cannot load it into `{expected}`")]
    StateKind {
        /// This optimiser's kind.
        expected: &'static str,
        /// The state's kind.
        got: String,
    },
    /// A saved state lacks a buffer this optimiser needs.
    #[error("optimiser state for `{kind}` lacks the buffer `{name}`")]
    MissingBuffer {
        /// The optimiser kind.
        kind: &'static str,
        /// The missing buffer's name.
        name: String,
    },
}
