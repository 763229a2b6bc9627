//! Forward integration: fixed and adaptive explicit Runge–Kutta steps over output intervals.

mod drive;
mod options;
pub(crate) mod sink;
mod solve;

pub use drive::{Counters, Grid};
pub(crate) use drive::{Forward, StepWorkspace, rms_norm, stage_time, stages_evaluated};
pub use options::{Adaptive, Controller, Stepping};
pub use solve::{Solution, solve};
