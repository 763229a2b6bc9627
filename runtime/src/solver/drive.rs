//! The forward driver: fixed or adaptive explicit RK steps over the output intervals of one
//! component, steps clipped to land on every output time, FSAL reuse, Hairer's initial step.

use super::options::{Adaptive, Controller, Stepping};
use super::sink::StageSink;
use super::trajectory::Trajectory;
use crate::error::SolveError;
use crate::real::Real;
use crate::scheme::Scheme;

/// The accepted step grid of one component.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grid {
    /// Accepted times t_0 < t_1 < … < t_N.
    pub t: Vec<f64>,
    /// For each output time (times[1..]), the grid index n with t_n equal to it.
    pub output_at: Vec<usize>,
}

impl Grid {
    /// Number of accepted steps N.
    pub fn steps(&self) -> usize {
        self.t.len().saturating_sub(1)
    }
}

/// Forward counters of one pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Evaluations of f.
    pub nfe: usize,
    /// Accepted steps.
    pub accepted: usize,
    /// Rejected steps.
    pub rejected: usize,
    /// Batched evaluation calls under per-sample steps, each on the samples still active
    /// (0 otherwise). There `nfe`, `accepted` and `rejected` count per sample, summed over the
    /// batch (sample-evaluations and sample-steps).
    pub eval_calls: usize,
}

/// Reused buffers of the step kernel (s stage slopes, a stage input, the trial state, the error).
pub(crate) struct StepWorkspace<T: Real> {
    pub k: Vec<Vec<T>>,
    pub xs: Vec<T>,
    pub x: Vec<T>,
    pub x1: Vec<T>,
    pub err: Vec<T>,
    /// One evaluation's activations (`Dynamics::scratch_len`), shared by every eval and VJP.
    pub scratch: Vec<T>,
}

impl<T: Real> StepWorkspace<T> {
    pub fn new(stages: usize, n: usize, scratch_len: usize) -> Self {
        StepWorkspace {
            scratch: vec![T::zero(); scratch_len],
            k: vec![vec![T::zero(); n]; stages],
            xs: vec![T::zero(); n],
            x: vec![T::zero(); n],
            x1: vec![T::zero(); n],
            err: vec![T::zero(); n],
        }
    }
    /// Elements of the step buffers (all but the scratch) for `stages` stages and states of
    /// `n` elements: s slopes, the stage input, x, the trial state and the error.
    pub fn buffer_len(stages: usize, n: usize) -> usize {
        (stages + 4) * n
    }
    /// Bytes of the step buffers (all but the scratch).
    pub fn buffer_bytes(&self) -> usize {
        Self::buffer_len(self.k.len(), self.x.len()) * std::mem::size_of::<T>()
    }
    /// Bytes of the scratch buffer.
    pub fn scratch_bytes(&self) -> usize {
        self.scratch.len() * std::mem::size_of::<T>()
    }
}

/// An error norm: `norm(v, y0, y1)` = ‖v / (atol + rtol·max(|y0|, |y1|))‖.
pub(crate) type Norm<'a, T> = &'a dyn Fn(&[T], &[T], &[T]) -> f64;

/// The RMS norm over the whole tensor (batch included), torchdiffeq's default.
pub(crate) fn rms_norm<T: Real>(v: &[T], y0: &[T], y1: &[T], rtol: f64, atol: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut acc = 0.0f64;
    for ((&e, &a), &b) in v.iter().zip(y0).zip(y1) {
        let scale = atol + rtol * a.f64().abs().max(b.f64().abs());
        let r = e.f64() / scale;
        acc += r * r;
    }
    (acc / v.len() as f64).sqrt()
}

/// The state error norm of this stepping (RMS over the whole tensor, batch included).
pub(crate) fn state_norm<T: Real>(stepping: &Stepping) -> impl Fn(&[T], &[T], &[T]) -> f64 {
    let (rtol, atol) = stepping.tolerances();
    move |v: &[T], y0: &[T], y1: &[T]| rms_norm(v, y0, y1, rtol, atol)
}

/// Stage time t + c·h, landing exactly on `t_next` when c = 1.
#[inline]
pub(crate) fn stage_time(t: f64, h: f64, c: f64, t_next: f64) -> f64 {
    if c == 1.0 { t_next } else { t + c * h }
}

fn all_finite<T: Real>(v: &[T]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// Stages evaluated per forward trial step: all s when adaptive (the error estimate) or FSAL
/// (the last stage is the next step's first), else the effective S.
pub(crate) fn stages_evaluated<T: Real>(scheme: &Scheme<T>, stepping: &Stepping) -> usize {
    match stepping {
        Stepping::Adaptive(_) => scheme.stages(),
        Stepping::Fixed { .. } if scheme.is_fsal() => scheme.stages(),
        Stepping::Fixed { .. } => scheme.effective_stages(),
    }
}

/// Everything one forward integration needs besides the sink.
pub(crate) struct Forward<'a, T: Real> {
    pub scheme: &'a Scheme<T>,
    pub stepping: &'a Stepping,
    pub component: usize,
    pub norm: Norm<'a, T>,
    /// Which quantity the non-finite error names.
    pub what: &'static str,
    /// Replay this accepted grid instead of choosing steps: the same stages are evaluated (and
    /// the same FSAL reuse happens) as in the pass that produced it, without error estimates,
    /// probes or rejected trials, so the states are bit-identical to that pass.
    pub replay: Option<&'a Grid>,
}

impl<T: Real> Forward<'_, T> {
    /// Stages evaluated per trial step.
    pub fn stages_evaluated(&self) -> usize {
        stages_evaluated(self.scheme, self.stepping)
    }

    /// Integrates from `x0` at `times[0]` through `times[1..]`, writing the state at each output
    /// time into `outputs[k]`. `ws` must have been made for this scheme and state length.
    pub fn run(
        &self,
        times: &[f64],
        x0: &[T],
        outputs: &mut Trajectory<T>,
        sink: &mut impl StageSink<T>,
        ws: &mut StepWorkspace<T>,
        counters: &mut Counters,
    ) -> Result<Grid, SolveError> {
        let sch = self.scheme;
        let s_eval = self.stages_evaluated();
        let mut grid = Grid {
            t: vec![times[0]],
            output_at: Vec::with_capacity(times.len() - 1),
        };
        ws.x.copy_from_slice(x0);
        if !all_finite(&ws.x) {
            return Err(self.non_finite(0, times[0]));
        }
        let mut t = times[0];
        let mut k1_valid = false;
        let adaptive = match self.stepping {
            Stepping::Adaptive(a) => Some(a),
            Stepping::Fixed { .. } => None,
        };
        let mut h = 0.0;
        let mut prev_ratio = 1.0;
        let mut trials = 0usize;
        if let Some(replay) = self.replay {
            return self.run_replay(replay, times, outputs, sink, ws, counters);
        }
        if let Some(a) = adaptive {
            if sch.error_weights().is_none() {
                return Err(SolveError::NotAdaptive(sch.name().to_string()));
            }
            sink.eval(0, t, &ws.x, &mut ws.k[0], &mut ws.scratch);
            counters.nfe += 1;
            k1_valid = true;
            h = match a.first_step {
                Some(h0) => h0,
                None => self.initial_step(t, sink, ws, counters),
            }
            .min(a.max_step);
        }
        for w in times.windows(2) {
            let (t_a, t_b) = (w[0], w[1]);
            match self.stepping {
                Stepping::Fixed { steps } => {
                    let hh = (t_b - t_a) / *steps as f64;
                    for n in 0..*steps {
                        let t_next = if n + 1 == *steps {
                            t_b
                        } else {
                            t_a + (n + 1) as f64 * hh
                        };
                        self.trial(t, t_next, s_eval, k1_valid, sink, ws, counters);
                        if !all_finite(&ws.x1) {
                            return Err(self.non_finite(counters.accepted + 1, t_next));
                        }
                        k1_valid = self.accept(t, t_next, sink, ws, counters);
                        grid.t.push(t_next);
                        t = t_next;
                    }
                }
                Stepping::Adaptive(a) => {
                    while t < t_b {
                        let t_next = if t + h >= t_b { t_b } else { t + h };
                        let hn = t_next - t;
                        if hn <= 0.0 || hn < a.min_step && t_next != t_b {
                            return Err(self.underflow(t, hn, a));
                        }
                        trials += 1;
                        if trials > a.max_steps {
                            return Err(SolveError::TooManySteps {
                                component: self.component,
                                max_steps: a.max_steps,
                                t,
                                t_end: *times.last().unwrap_or(&t_b),
                            });
                        }
                        self.trial(t, t_next, s_eval, k1_valid, sink, ws, counters);
                        sch.error_estimate(T::of(hn), &ws.k, &mut ws.err);
                        let mut ratio = (self.norm)(&ws.err, &ws.x, &ws.x1);
                        if !ratio.is_finite() || !all_finite(&ws.x1) {
                            ratio = f64::INFINITY;
                        }
                        let accepted = ratio <= 1.0;
                        let factor =
                            step_factor(a, ratio, prev_ratio, sch.control_order(), accepted);
                        if accepted {
                            k1_valid = self.accept(t, t_next, sink, ws, counters);
                            grid.t.push(t_next);
                            t = t_next;
                            prev_ratio = ratio.max(1e-4);
                        } else {
                            sink.reject();
                            counters.rejected += 1;
                        }
                        h = (hn * factor).min(a.max_step);
                        if !accepted && (h < a.min_step || t + h == t) {
                            if !ratio.is_finite() {
                                return Err(self.non_finite(counters.accepted + 1, t + hn));
                            }
                            return Err(self.underflow(t, h, a));
                        }
                    }
                }
            }
            grid.output_at.push(grid.t.len() - 1);
            outputs[grid.output_at.len() - 1].copy_from_slice(&ws.x);
        }
        Ok(grid)
    }

    /// [`Forward::run`] on a given grid (see [`Forward::replay`]); `ws.x` holds x0.
    fn run_replay(
        &self,
        replay: &Grid,
        times: &[f64],
        outputs: &mut Trajectory<T>,
        sink: &mut impl StageSink<T>,
        ws: &mut StepWorkspace<T>,
        counters: &mut Counters,
    ) -> Result<Grid, SolveError> {
        if replay.t.first() != times.first()
            || replay.output_at.len() != times.len() - 1
            || replay
                .output_at
                .iter()
                .zip(&times[1..])
                .any(|(&n, &t)| replay.t.get(n) != Some(&t))
        {
            return Err(SolveError::GridMismatch(self.component));
        }
        let s_eval = self.stages_evaluated();
        let mut k1_valid = false;
        for n in 0..replay.steps() {
            let (t, t_next) = (replay.t[n], replay.t[n + 1]);
            self.trial(t, t_next, s_eval, k1_valid, sink, ws, counters);
            if !all_finite(&ws.x1) {
                return Err(self.non_finite(counters.accepted + 1, t_next));
            }
            k1_valid = self.accept(t, t_next, sink, ws, counters);
            if let Some(k) = replay.output_at.iter().position(|&o| o == n + 1) {
                outputs[k].copy_from_slice(&ws.x);
            }
        }
        Ok(replay.clone())
    }

    /// Evaluates the stages of a trial step from (t, ws.x) to t_next into ws.k and ws.x1.
    fn trial(
        &self,
        t: f64,
        t_next: f64,
        s_eval: usize,
        k1_valid: bool,
        sink: &mut impl StageSink<T>,
        ws: &mut StepWorkspace<T>,
        counters: &mut Counters,
    ) {
        let sch = self.scheme;
        let h = t_next - t;
        let ht = T::of(h);
        if !k1_valid {
            sink.eval(0, t, &ws.x, &mut ws.k[0], &mut ws.scratch);
            counters.nfe += 1;
        }
        let s = sch.stages();
        for i in 1..s_eval {
            sch.stage_input(i, ht, &ws.x, &ws.k, &mut ws.xs);
            let ti = stage_time(t, h, sch.c(i), t_next);
            let (_, rest) = ws.k.split_at_mut(i);
            sink.eval(i, ti, &ws.xs, &mut rest[0], &mut ws.scratch);
            counters.nfe += 1;
        }
        if sch.is_fsal() && s_eval == s {
            // x_{n+1} is the last stage input, bit for bit.
            ws.x1.copy_from_slice(&ws.xs);
        } else {
            sch.update(s_eval, ht, &ws.x, &ws.k, &mut ws.x1);
        }
    }

    fn accept(
        &self,
        t: f64,
        t_next: f64,
        sink: &mut impl StageSink<T>,
        ws: &mut StepWorkspace<T>,
        counters: &mut Counters,
    ) -> bool {
        let fsal = self.scheme.is_fsal() && self.stages_evaluated() == self.scheme.stages();
        sink.accept(t, t_next, &ws.x, fsal);
        counters.accepted += 1;
        std::mem::swap(&mut ws.x, &mut ws.x1);
        if fsal {
            let s = self.scheme.stages();
            ws.k.swap(0, s - 1);
        }
        fsal
    }

    /// Hairer & Wanner II.4 (torchdiffeq's `_select_initial_step`); ws.k[0] holds f(t0, x0).
    fn initial_step(
        &self,
        t0: f64,
        sink: &mut impl StageSink<T>,
        ws: &mut StepWorkspace<T>,
        counters: &mut Counters,
    ) -> f64 {
        let q = self.scheme.control_order() as f64;
        let d0 = (self.norm)(&ws.x, &ws.x, &ws.x);
        let d1 = (self.norm)(&ws.k[0], &ws.x, &ws.x);
        let h0 = if d0 < 1e-5 || d1 < 1e-5 {
            1e-6
        } else {
            0.01 * d0 / d1
        };
        let h0t = T::of(h0);
        for ((xs, &x), &f) in ws.xs.iter_mut().zip(&ws.x).zip(&ws.k[0]) {
            *xs = x + h0t * f;
        }
        sink.probe(t0 + h0, &ws.xs, &mut ws.x1, &mut ws.scratch);
        counters.nfe += 1;
        for (e, (&f1, &f0)) in ws.err.iter_mut().zip(ws.x1.iter().zip(&ws.k[0])) {
            *e = f1 - f0;
        }
        let d2 = (self.norm)(&ws.err, &ws.x, &ws.x) / h0;
        let h1 = if d1 <= 1e-15 && d2 <= 1e-15 {
            (1e-6f64).max(h0 * 1e-3)
        } else {
            (0.01 / d1.max(d2)).powf(1.0 / q)
        };
        (100.0 * h0).min(h1)
    }

    fn non_finite(&self, step: usize, t: f64) -> SolveError {
        SolveError::NonFinite {
            what: self.what,
            component: self.component,
            step,
            t,
        }
    }

    fn underflow(&self, t: f64, h: f64, a: &Adaptive) -> SolveError {
        SolveError::StepSizeUnderflow {
            component: self.component,
            t,
            h,
            min_step: a.min_step,
        }
    }
}

/// The step-size factor after a trial step with error ratio `ratio` (q = control order).
pub(crate) fn step_factor(a: &Adaptive, ratio: f64, prev: f64, q: u32, accepted: bool) -> f64 {
    let q = q as f64;
    if ratio == 0.0 {
        return a.max_growth;
    }
    let raw = match a.controller {
        Controller::I => a.safety * ratio.powf(-1.0 / q),
        Controller::Pi { beta1, beta2 } if accepted => {
            a.safety * ratio.powf(-beta1 / q) * prev.powf(beta2 / q)
        }
        Controller::Pi { .. } => a.safety * ratio.powf(-1.0 / q),
    };
    let lo = if accepted { 1.0 } else { a.min_shrink };
    if raw.is_nan() {
        lo
    } else {
        raw.clamp(lo, a.max_growth)
    }
}
