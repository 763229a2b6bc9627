//! The error type of [`crate::train`].

use std::path::PathBuf;

use symplode_runtime::SolveError;
use symplode_runtime::optim::OptimError;
use thiserror::Error;

use crate::io::IoError;
use crate::io::budget::BudgetError;

/// What went wrong while training, checkpointing or resuming, and where.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TrainError {
    /// The forward or backward solve failed.
    #[error("iteration {iteration}: {source}")]
    Solve {
        /// The iteration (1-based) that failed.
        iteration: u64,
        /// The solver's error.
        source: SolveError,
    },
    /// The optimiser rejected the step (e.g. a non-finite gradient entry).
    #[error("iteration {iteration}: {source}")]
    Optim {
        /// The iteration (1-based) that failed; 0 when setting up.
        iteration: u64,
        /// The optimiser's error.
        source: OptimError,
    },
    /// The loss became NaN or infinite.
    #[error("iteration {iteration}: the loss is not finite ({value})")]
    NonFiniteLoss {
        /// The iteration (1-based).
        iteration: u64,
        /// The loss value.
        value: f64,
    },
    /// An update made a parameter or an optimiser state entry NaN or infinite (the run
    /// diverged); nothing is saved, the last good checkpoint stays.
    #[error(
        "iteration {iteration}: {what} became non-finite ({value}); the run diverged (try a \
         smaller learning rate or --clip-norm); the last good checkpoint is kept"
    )]
    NonFiniteState {
        /// The iteration (1-based) whose update diverged.
        iteration: u64,
        /// Which value, e.g. ``parameter 12 (`layers.0.weight`)`` or `optimiser exp_avg[3]`.
        what: String,
        /// The value.
        value: f64,
    },
    /// The iteration's predicted peak memory exceeds the memory budget (checked before it
    /// runs).
    #[error("iteration {iteration}: {source}")]
    Budget {
        /// The iteration (1-based).
        iteration: u64,
        /// The prediction and the budget.
        source: BudgetError,
    },
    /// Writing an output file failed (see [`IoError`]).
    #[error(transparent)]
    Io(#[from] IoError),
    /// A shard computed by another process failed (that process reports why).
    #[error("iteration {iteration}: a shard on another rank failed (its own message says why)")]
    Rank {
        /// The iteration (1-based).
        iteration: u64,
    },
    /// A collective operation between processes failed.
    #[error("iteration {iteration}: {what}: {reason}")]
    Collective {
        /// The iteration (1-based; 0 before the first).
        iteration: u64,
        /// The operation.
        what: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// Training data or a mini-batch is malformed.
    #[error("training data: {what}: {reason}")]
    Data {
        /// Which part of the data, e.g. `"targets[3]"`.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A training option is out of range.
    #[error("training option `{field}`: {reason}")]
    Config {
        /// The option.
        field: &'static str,
        /// What is required.
        reason: String,
    },
    /// No checkpoint where one was asked for.
    #[error("no checkpoint at {}: {reason}", path.display())]
    CheckpointMissing {
        /// The file that is missing.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// A checkpoint file is damaged or not a symplode checkpoint.
    #[error("corrupt checkpoint {}: {reason}", path.display())]
    CheckpointCorrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint does not fit the model, optimiser or configuration it is loaded into.
    #[error("checkpoint {} does not fit: {what} is {got} in the checkpoint, {expected} here", path.display())]
    CheckpointMismatch {
        /// The checkpoint's metadata file.
        path: PathBuf,
        /// What differs, e.g. `"tensor `layers.0.weight` shape"`.
        what: String,
        /// The value here.
        expected: String,
        /// The value in the checkpoint.
        got: String,
    },
    /// A file could not be read, written, synced or renamed.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        /// What was being done (`"write"`, `"rename"`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl TrainError {
    /// A [`TrainError::File`].
    pub(crate) fn file(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        TrainError::File {
            action,
            path: path.into(),
            source,
        }
    }
}
