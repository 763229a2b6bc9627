//! Forward integration: fixed and adaptive explicit Runge–Kutta steps over output intervals.

mod check;
mod drive;
mod options;
mod per_sample;
pub(crate) mod sink;
mod solve;
mod trajectory;

pub(crate) use check::{check_state, check_times};
pub use drive::{Counters, Grid};
pub(crate) use drive::{
    Forward, Norm, StepWorkspace, rms_norm, stage_time, stages_evaluated, state_norm,
};
pub use options::{Adaptive, Controller, Stepping};
pub(crate) use per_sample::PerSample;
pub use solve::{Solution, replay, solve};
pub use trajectory::Trajectory;
