//! The error type of [`crate::physics`]: each variant says what failed and where (system,
//! trajectory, step, field).

use thiserror::Error;

use crate::io::IoError;

/// What went wrong generating, reading or using a physics data set or model.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PhysicsError {
    /// The Newton iteration of one implicit step did not reach the tolerance.
    #[error(
        "{system}: trajectory {trajectory}, step {step}: Newton did not converge in {iterations} \
         iterations (last update {update:e}, tolerance {tolerance:e})"
    )]
    NewtonDiverged {
        /// `kdv` or `ch`.
        system: &'static str,
        /// Trajectory index.
        trajectory: usize,
        /// Step index (0-based: the step from state `step` to `step + 1`).
        step: usize,
        /// Iterations done.
        iterations: usize,
        /// Max-norm of the last Newton update.
        update: f64,
        /// The tolerance asked for.
        tolerance: f64,
    },
    /// The Newton Jacobian of one implicit step is singular.
    #[error(
        "{system}: trajectory {trajectory}, step {step}: singular Newton Jacobian (pivot {pivot} in column {column})"
    )]
    SingularJacobian {
        /// `kdv` or `ch`.
        system: &'static str,
        /// Trajectory index.
        trajectory: usize,
        /// Step index.
        step: usize,
        /// Column of the vanishing pivot.
        column: usize,
        /// The pivot's value.
        pivot: f64,
    },
    /// A state became non-finite.
    #[error("{system}: trajectory {trajectory}, step {step}: non-finite state")]
    NonFinite {
        /// `kdv` or `ch`.
        system: &'static str,
        /// Trajectory index.
        trajectory: usize,
        /// Step index.
        step: usize,
    },
    /// A configuration value that is not allowed.
    #[error("physics: `{field}`: {reason}")]
    Config {
        /// The option, e.g. `trajectories` or `--channels`.
        field: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A data-set file that does not hold what it should.
    #[error("{origin}: {reason}")]
    Dataset {
        /// The file.
        origin: String,
        /// What is missing or inconsistent.
        reason: String,
    },
    /// Reading or writing a file.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Building the model's graph.
    #[error("physics model: {0}")]
    Graph(#[from] symplode_codegen::ir::IrError),
    /// Compiling the model for the interpreter.
    #[error("physics model: {0}")]
    Interp(#[from] symplode_runtime::interp::InterpError),
}
