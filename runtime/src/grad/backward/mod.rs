//! Backward kinds: how the backward sweep turns the cotangents at the output times into dL/dx0
//! and dL/dθ, given what the forward sweep's storage policy kept.
//!
//! | kind | differentiates | per step it needs | recomputes what was not kept |
//! |---|---|---|---|
//! | [`Taped`] | the discrete solution, reverse mode through each stage's tape | stage tapes | stages with tapes (from xₙ, stored stages, or a replay of the component) |
//! | [`Partner`] | the discrete solution, with the symplectic partner tableau | stage states | stage states (from xₙ, or a replay) |
//! | [`Adjoint`](super::Adjoint) | the continuous adjoint ODE, solved backward | nothing | x backward in time |

pub(crate) mod continuous;
mod partner;
mod taped;

pub use partner::Partner;
pub use taped::Taped;

use std::fmt::Debug;

use super::Stats;
use super::forward::Run;
use super::memory::ProblemSizes;
use super::problem::{Outputs, Problem};
use super::record::Record;
use super::storage::{Keeps, StoreBytes};
use crate::error::SolveError;
use crate::real::Real;
use crate::solver::Grid;

/// Everything a backward sweep works on: the problem, the forward sweep's outputs and grids,
/// the cotangents, the running λ and dL/dθ, the workspace and the counters.
pub struct BackwardContext<'p, 'a, T: Real> {
    pub(crate) problem: &'p Problem<'a, T>,
    pub(crate) run: &'p mut Run<T>,
    pub(crate) outputs: &'p Outputs<T>,
    pub(crate) grids: &'p [Grid],
    pub(crate) cot: &'p Outputs<T>,
    pub(crate) lam: &'p mut [T],
    pub(crate) dtheta: &'p mut [Vec<T>],
    pub(crate) stats: &'p mut Stats,
}

/// How the backward sweep runs (a small strategy type; see the module table).
pub trait BackwardKind: Clone + Debug + Send + Sync {
    /// The kind's name (`"taped"`, `"partner"`, `"continuous"`).
    fn name(&self) -> &'static str;
    /// Whether it can run on what `keeps` keeps.
    fn supports(&self, keeps: Keeps) -> bool;
    /// Checks the kind's own options before the forward sweep starts.
    fn validate(&self) -> Result<(), SolveError> {
        Ok(())
    }
    /// Sweeps every component in reverse order, consuming the records of the forward sweep.
    fn run<T: Real>(
        &self,
        cx: BackwardContext<'_, '_, T>,
        records: Vec<Record<T>>,
    ) -> Result<(), SolveError>;
    /// The bytes the backward sweep adds to what the storage policy holds, when it runs on
    /// what `keeps` keeps: `checkpoint` is held on top of the store's checkpoints, `graph` and
    /// `workspace` are the sweep's own peaks.
    fn predict(&self, keeps: Keeps, z: &ProblemSizes) -> StoreBytes;
}

/// The error for a record the backward kind cannot use.
pub(crate) fn unsupported(kind: &'static str, record: &Record<impl Sized>) -> SolveError {
    SolveError::BadOption {
        name: "gradient method",
        value: format!("{kind} backward on {}", record.holds()),
        reason: "this backward kind cannot run on what that storage policy keeps",
    }
}
