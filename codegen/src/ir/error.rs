//! Errors of graph construction, transformation and evaluation.
//!
//! Every variant says what is wrong and where: the node being built (`v{n}`, the number it
//! would have had), its op, the operand and the shapes involved.

use thiserror::Error;

use super::entities::{Type, Value};

/// An invalid graph construction or transformation request.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum IrError {
    /// An operand refers to a value that does not exist (yet).
    #[error("node {node} ({op}): operand {operand} is not defined (only v0..v{len} exist)")]
    UndefinedValue {
        /// The node being built.
        node: Value,
        /// Its op.
        op: &'static str,
        /// The missing operand.
        operand: Value,
        /// Number of values defined so far.
        len: usize,
    },
    /// An operand must be batched.
    #[error("node {node} ({op}): operand `{operand}` must be batched [B,w], found {found}")]
    ExpectedBatched {
        /// The node being built.
        node: Value,
        /// Its op.
        op: &'static str,
        /// Which operand (`x`, `w`, …).
        operand: &'static str,
        /// Its type.
        found: Type,
    },
    /// An operand must be a global tensor of a given shape.
    #[error("node {node} ({op}): operand `{operand}` must be a global {expected}, found {found}")]
    ExpectedGlobal {
        /// The node being built.
        node: Value,
        /// Its op.
        op: &'static str,
        /// Which operand.
        operand: &'static str,
        /// The shape required, e.g. `[out,4]`.
        expected: String,
        /// Its type.
        found: Type,
    },
    /// Operand shapes do not fit together.
    #[error("node {node} ({op}): {detail}")]
    ShapeMismatch {
        /// The node being built.
        node: Value,
        /// Its op.
        op: &'static str,
        /// What does not fit, with the shapes.
        detail: String,
    },
    /// An attribute (width, slice range, stencil, kernel size, …) is invalid.
    #[error("node {node} ({op}): {detail}")]
    InvalidAttribute {
        /// The node being built.
        node: Value,
        /// Its op.
        op: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// An `input`/`param` node refers to an undeclared input or parameter.
    #[error("node {node} ({op}): no {what} {index} (the graph declares {declared})")]
    Undeclared {
        /// The node being built.
        node: Value,
        /// `input` or `param`.
        op: &'static str,
        /// `input` or `parameter`.
        what: &'static str,
        /// The index asked for.
        index: u32,
        /// How many are declared.
        declared: usize,
    },
    /// A declared input or parameter is invalid (zero size, duplicate name, …).
    #[error("{what} `{name}`: {detail}")]
    InvalidDeclaration {
        /// `input` or `parameter`.
        what: &'static str,
        /// Its name.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// A graph output refers to an undefined value.
    #[error("output {position}: {value} is not defined (only v0..v{len} exist)")]
    UndefinedOutput {
        /// Position in the output list.
        position: usize,
        /// The value.
        value: Value,
        /// Number of values.
        len: usize,
    },
    /// More nodes than a `u32` id can number.
    #[error("the graph has more than u32::MAX nodes")]
    TooManyNodes,
    /// A transformation refers to an input or parameter the graph does not have.
    #[error("{context}: the graph has no {what} {index} (it has {declared})")]
    NoSuch {
        /// The transformation (`vjp`, `jvp`, `inline`, …).
        context: &'static str,
        /// `input` or `parameter`.
        what: &'static str,
        /// The index asked for.
        index: u32,
        /// How many it has.
        declared: usize,
    },
    /// A graph does not have the inputs/outputs a transformation needs.
    #[error("{context}: {detail}")]
    Signature {
        /// The transformation (`cnf_dynamics`, `energy_dynamics`, `inline`, …).
        context: &'static str,
        /// What was expected and what was found.
        detail: String,
    },
    /// An activation name that is not known.
    #[error("unknown activation `{name}` (expected one of {expected})")]
    UnknownActivation {
        /// The name given.
        name: String,
        /// The valid names.
        expected: String,
    },
}

/// Bad arguments to the reference evaluator ([`evaluate_f64`](super::eval::evaluate_f64)).
#[derive(Clone, Debug, PartialEq, Error)]
pub enum EvalError {
    /// Wrong number of inputs.
    #[error("the graph has {expected} inputs, {got} were given")]
    InputCount {
        /// Declared inputs.
        expected: usize,
        /// Given.
        got: usize,
    },
    /// An input has the wrong length for the batch size.
    #[error("input {index} `{name}` needs {expected} values (batch × width), got {got}")]
    InputLength {
        /// Input index.
        index: usize,
        /// Input name.
        name: String,
        /// batch × width.
        expected: usize,
        /// Given.
        got: usize,
    },
    /// The flat parameter vector has the wrong length.
    #[error("the graph has {expected} parameter values ({layout}), got {got}")]
    ParamLength {
        /// Total of the declared parameter sizes.
        expected: usize,
        /// Given.
        got: usize,
        /// `name [shape] + …`.
        layout: String,
    },
    /// A value would not fit in memory for this batch size.
    #[error("batch {batch}: node {node} would need more than isize::MAX bytes")]
    BatchTooLarge {
        /// The batch size.
        batch: usize,
        /// The first node too large.
        node: super::Value,
    },
    /// The per-sample times have the wrong length.
    #[error("{expected} times (one per sample) are needed, got {got}")]
    TimeLength {
        /// The batch size.
        expected: usize,
        /// Given.
        got: usize,
    },
}
