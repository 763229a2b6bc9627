//! Errors raised when a model is constructed from user input.

use thiserror::Error;

/// What went wrong when building a model, and where.
///
/// Constructors validate their input and return this error instead of panicking; every variant
/// names the model and the offending field or tensor.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A configuration value is out of range, e.g. a zero width.
    #[error("{model}: invalid `{field}`: {reason}")]
    InvalidConfig {
        /// The model, e.g. `"Mlp"`.
        model: &'static str,
        /// The configuration field, e.g. `"hidden[1]"`.
        field: String,
        /// Why the value is rejected.
        reason: String,
    },
    /// A flat parameter vector has the wrong number of elements.
    #[error("{model}: expected {expected} parameters ({layout}), got {got}")]
    ParamCount {
        /// The model.
        model: &'static str,
        /// The number the configuration requires.
        expected: usize,
        /// The number supplied.
        got: usize,
        /// How the expected count is made up, e.g. `"layers.0.weight [8, 3] + ..."`.
        layout: String,
    },
    /// A parameter is NaN or infinite.
    #[error("{model}: parameter `{tensor}` element {index} is not finite ({value})")]
    NonFinite {
        /// The model.
        model: &'static str,
        /// The tensor name, e.g. `"layers.1.bias"`.
        tensor: String,
        /// The index inside that tensor (row-major).
        index: usize,
        /// The offending value, formatted.
        value: String,
    },
}
