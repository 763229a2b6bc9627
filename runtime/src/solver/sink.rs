//! What a forward pass does with each stage evaluation: the hook through which the gradient
//! methods decide what to store (nothing, checkpoints, or tapes).

use crate::real::Real;

/// Receives the stage evaluations of a forward integration.
///
/// The driver calls [`StageSink::eval`] for every stage of every trial step (stage 0 is not
/// re-evaluated after a rejection, nor after an accepted FSAL step), then exactly one of
/// [`StageSink::accept`] or [`StageSink::reject`] per trial step.
pub(crate) trait StageSink<T: Real> {
    /// Evaluates stage `i` of the current trial step at (`t`, `x`) into `k`.
    fn eval(&mut self, i: usize, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]);
    /// An extra evaluation off the solution path (initial step selection).
    fn probe(&mut self, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]);
    /// The trial step from (`t0`, `x_n`) to `t1` was accepted. `fsal_carry`: stage s−1 of this
    /// step becomes stage 0 of the next one.
    fn accept(&mut self, t0: f64, t1: f64, x_n: &[T], fsal_carry: bool);
    /// The trial step was rejected; stage 0 stays valid.
    fn reject(&mut self) {}
}
