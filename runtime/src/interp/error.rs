//! Errors of building an interpreted model and of setting its auxiliary inputs.

use symplode_codegen::ir::IrError;
use thiserror::Error;

/// What went wrong when turning a graph into a [`Dynamics`](crate::Dynamics), or when setting
/// an auxiliary input; every variant says what and where (input, tensor, index).
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum InterpError {
    /// Building a derivative graph (VJP, CNF or energy dynamics) failed.
    #[error("interp: {0}")]
    Ir(#[from] IrError),
    /// The graph declares no input: input 0 must be the state.
    #[error("interp: the graph has no input; input 0 must be the state x [B,d]")]
    NoState,
    /// The graph does not map the state to one batched output of the state's width.
    #[error(
        "interp: a vector field needs exactly one batched output of the state's width {dim}; {detail}"
    )]
    Output {
        /// The state width (input 0).
        dim: usize,
        /// What the graph has instead.
        detail: String,
    },
    /// The flat parameter vector has the wrong length.
    #[error("interp: the graph has {expected} parameter values ({layout}), got {got}")]
    ParamCount {
        /// Total of the declared parameter sizes.
        expected: usize,
        /// The number supplied.
        got: usize,
        /// `name [shape] + …`.
        layout: String,
    },
    /// A parameter is NaN or infinite.
    #[error("interp: parameter `{tensor}` element {index} is not finite ({value})")]
    NonFiniteParam {
        /// The tensor name.
        tensor: String,
        /// Row-major index inside the tensor.
        index: usize,
        /// The value, formatted.
        value: String,
    },
    /// `set_aux` was given an index that is not an auxiliary input (0 is the state).
    #[error("interp: input {index} is not an auxiliary input (auxiliary inputs are 1..{declared})")]
    NotAux {
        /// The index given.
        index: usize,
        /// Number of declared inputs (the state included).
        declared: usize,
    },
    /// Auxiliary data whose length is not a positive multiple of the input's width.
    #[error(
        "interp: auxiliary input {index} `{name}` is [B,{width}]; {got} values are not a whole positive number of rows"
    )]
    AuxLength {
        /// Input index.
        index: usize,
        /// Input name.
        name: String,
        /// Its width.
        width: usize,
        /// The length given.
        got: usize,
    },
    /// Auxiliary data containing NaN or an infinity.
    #[error("interp: auxiliary input {index} `{name}` element {position} is not finite ({value})")]
    AuxNonFinite {
        /// Input index.
        index: usize,
        /// Input name.
        name: String,
        /// Position in the flat data.
        position: usize,
        /// The value, formatted.
        value: String,
    },
    /// An auxiliary input the dynamics reads has not been set.
    #[error("interp: auxiliary input {index} `{name}` is read but was never set (call set_aux)")]
    AuxMissing {
        /// Input index.
        index: usize,
        /// Input name.
        name: String,
    },
    /// An auxiliary input was set for another batch size.
    #[error("interp: auxiliary input {index} `{name}` holds {got} rows, the batch has {batch}")]
    AuxBatch {
        /// Input index.
        index: usize,
        /// Input name.
        name: String,
        /// The batch size asked for.
        batch: usize,
        /// Rows held.
        got: usize,
    },
}
