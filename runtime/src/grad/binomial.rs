//! Binomial checkpointing of the step states ([`BinomialStates`]): the forward sweep keeps the
//! start and at most C further states, placed by the revolve schedule ([`super::revolve`]);
//! the backward sweep gets x_{N−1}, …, x_0 back by replaying steps on the accepted grid from
//! the nearest checkpoint ([`StateWalker`]), bit for bit the states of the forward sweep.

use super::memory::{ProblemSizes, Tracker};
use super::record::{Rec, Recorder};
use super::revolve::{Schedule, descent};
use super::storage::{Keeps, RecordContext, StoragePolicy, StoreBytes};
use crate::dynamics::Dynamics;
use crate::error::SolveError;
use crate::real::Real;
use crate::scheme::Scheme;
use crate::solver::sink::StageSink;
use crate::solver::{Grid, StepWorkspace, stage_time};

/// Keeps at most `checkpoints` = C step states per component, the start's included (revolve's
/// `snaps`), placed on the binomial (revolve) schedule, plus one live state: at most C + 1
/// states at any time. With fixed steps the forward sweep already places the first descent's
/// checkpoints and leaves x_{N−1} live. The backward sweep replays steps on the accepted grid
/// to recover the others: the fewest forward steps any schedule with C checkpoints needs,
/// t(N, C) (Griewank & Walther), counted in
/// [`Stats::recomputed_steps`](super::Stats::recomputed_steps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinomialStates {
    /// Checkpoints C per component, the start's included (C ≥ 1).
    pub checkpoints: usize,
}

impl BinomialStates {
    /// Slots besides the one holding the start (C − 1).
    fn free(&self) -> usize {
        self.checkpoints.saturating_sub(1)
    }
}

/// The checkpoints of one component: the start, the states placed by the schedule and the
/// live state.
pub(crate) struct BinomialKept<T> {
    /// The held checkpoints (position, state); `held[0]` is the start.
    pub held: Vec<(usize, Vec<T>)>,
    /// The live state (position, state), x_{N−1} after a fixed-step forward sweep.
    pub live: Option<(usize, Vec<T>)>,
    /// Checkpoint slots besides the start's (C − 1).
    pub checkpoints: usize,
}

/// Records the start, the first descent's checkpoints and the live x_{N−1}.
pub(crate) struct BinomialSink<'a, T: Real> {
    dynamics: &'a dyn Dynamics<T>,
    tracker: &'a Tracker,
    kept: BinomialKept<T>,
    /// Positions to keep (increasing) and the next one's index.
    keep_at: Vec<usize>,
    next: usize,
    /// x_{N−1} is kept as the live state when the step count N is known.
    live_at: Option<usize>,
    step: usize,
}

impl<T: Real> StageSink<T> for BinomialSink<'_, T> {
    fn eval(&mut self, _i: usize, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]) {
        self.dynamics.eval(T::of(t), x, k, scratch);
    }
    fn probe(&mut self, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]) {
        self.dynamics.eval(T::of(t), x, k, scratch);
    }
    fn accept(&mut self, _t0: f64, _t1: f64, x_n: &[T], _fsal: bool) {
        let n = self.step;
        self.step += 1;
        if self.keep_at.get(self.next) == Some(&n) {
            self.next += 1;
            self.tracker.ck_add(size_of_val(x_n));
            self.kept.held.push((n, x_n.to_vec()));
        } else if self.live_at == Some(n) {
            self.tracker.ck_add(size_of_val(x_n));
            self.kept.live = Some((n, x_n.to_vec()));
        }
    }
}

impl<T: Real> BinomialSink<'_, T> {
    pub fn into_kept(self) -> BinomialKept<T> {
        self.kept
    }
}

/// States the forward sweep of one component keeps: the start, the checkpoints of the first
/// descent and (when it is not one of them) the live x_{N−1}; `steps`: N when known before
/// the sweep.
fn forward_keeps(steps: Option<usize>, checkpoints: usize) -> (Vec<usize>, Option<usize>) {
    match steps {
        Some(n) if n > 1 => {
            let keep = descent(0, n - 1, checkpoints);
            let live = (keep.last() != Some(&(n - 1))).then_some(n - 1);
            (keep, live)
        }
        _ => (Vec::new(), None),
    }
}

impl StoragePolicy for BinomialStates {
    fn name(&self) -> &'static str {
        "binomial-states"
    }
    fn keeps(&self) -> Keeps {
        Keeps::Binomial(self.free())
    }
    fn validate(&self) -> Result<(), SolveError> {
        if self.checkpoints == 0 {
            return Err(SolveError::BadOption {
                name: "checkpoints",
                value: "0".into(),
                reason: "binomial checkpointing needs at least one checkpoint (the start's)",
            });
        }
        Ok(())
    }
    fn recorder<'a, T: Real>(&self, cx: &RecordContext<'a, T>, x: &[T]) -> Recorder<'a, T> {
        let (keep_at, live_at) = forward_keeps(cx.known_steps, self.free());
        cx.tracker.ck_add(size_of_val(x));
        Recorder(Rec::Binomial(BinomialSink {
            dynamics: cx.dynamics,
            tracker: cx.tracker,
            kept: BinomialKept {
                held: vec![(0, x.to_vec())],
                live: None,
                checkpoints: self.free(),
            },
            keep_at,
            next: 0,
            live_at,
            step: 0,
        }))
    }
    fn predict(&self, z: &ProblemSizes) -> StoreBytes {
        let states: usize = (0..z.components.len())
            .map(|m| forward_states(z, m, self.free()))
            .sum();
        StoreBytes {
            checkpoint: states * z.state_bytes(),
            ..StoreBytes::default()
        }
    }
}

/// States the forward sweep keeps for component m.
fn forward_states(z: &ProblemSizes, m: usize, checkpoints: usize) -> usize {
    let (keep, live) = forward_keeps(z.known_steps(m), checkpoints);
    1 + keep.len() + usize::from(live.is_some())
}

/// Checkpoint bytes the backward sweep holds beyond the forward sweep's records, at its peak:
/// while component m is swept back, the records of components before it are still held and
/// its own schedule holds its peak of checkpoints plus the live state. `checkpoints`: the
/// slots besides the start's (C − 1).
pub(crate) fn backward_extra_states(z: &ProblemSizes, checkpoints: usize) -> usize {
    let records: Vec<usize> = (0..z.components.len())
        .map(|m| forward_states(z, m, checkpoints))
        .collect();
    let all: usize = records.iter().sum();
    let mut peak = all;
    let mut before: usize = all;
    for m in (0..z.components.len()).rev() {
        before -= records[m];
        let n = z.components[m].steps;
        let s = Schedule::after_forward(n, checkpoints, z.known_steps(m).is_some()).run(n);
        peak = peak.max(before + s.peak_held + 1);
    }
    peak - all
}

/// Hands out x_{N−1}, …, x_0 of one component in that order, replaying steps on its accepted
/// grid from the nearest checkpoint and keeping new checkpoints where the schedule says. The
/// live state has one buffer for the whole sweep; checkpoint buffers are allocated when taken
/// and freed when passed.
pub(crate) struct StateWalker<'g, T: Real> {
    schedule: Schedule,
    held: Vec<Vec<T>>,
    live: Vec<T>,
    grid: &'g Grid,
    tracker: &'g Tracker,
    /// Steps replayed so far.
    pub replayed: usize,
    /// Evaluations of f during the replays.
    pub evals: usize,
}

impl<'g, T: Real> StateWalker<'g, T> {
    /// The walker over a component's checkpoints; `checkpoints`: C.
    pub fn new(kept: BinomialKept<T>, grid: &'g Grid, tracker: &'g Tracker) -> Self {
        let checkpoints = kept.checkpoints;
        let n = kept.held[0].1.len();
        let held_at: Vec<usize> = kept.held.iter().map(|(p, _)| *p).collect();
        let (live_at, live) = match kept.live {
            Some((p, x)) => (Some(p), x),
            None => {
                tracker.ck_add(n * size_of::<T>());
                (
                    held_at.last().copied(),
                    kept.held.last().map(|(_, x)| x.clone()).unwrap_or_default(),
                )
            }
        };
        let peak_held = held_at.len();
        StateWalker {
            schedule: Schedule {
                held: held_at,
                slots: checkpoints + 1,
                live: live_at,
                advances: 0,
                peak_held,
            },
            held: kept.held.into_iter().map(|(_, x)| x).collect(),
            live,
            grid,
            tracker,
            replayed: 0,
            evals: 0,
        }
    }

    /// x_n (callers go n = N − 1, …, 0), replaying steps when it is not at hand.
    pub fn state(
        &mut self,
        n: usize,
        dynamics: &dyn Dynamics<T>,
        scheme: &Scheme<T>,
        s_eval: usize,
        ws: &mut StepWorkspace<T>,
        component: usize,
    ) -> Result<&[T], SolveError> {
        if let Some((from, keep)) = self.schedule.plan(n) {
            let start = self.schedule.held.len() - 1;
            ws.x.copy_from_slice(&self.held[start]);
            let mut next = 0;
            for j in from..n {
                replay_step(dynamics, scheme, s_eval, self.grid, j, ws);
                self.evals += s_eval;
                std::mem::swap(&mut ws.x, &mut ws.x1);
                if ws.x.iter().any(|v| !v.is_finite()) {
                    return Err(SolveError::NonFinite {
                        what: "replayed state",
                        component,
                        step: j + 1,
                        t: self.grid.t[j + 1],
                    });
                }
                if keep.get(next) == Some(&(j + 1)) {
                    next += 1;
                    self.tracker.ck_add(size_of_val(&ws.x[..]));
                    self.held.push(ws.x.clone());
                }
            }
            self.live.copy_from_slice(&ws.x);
            self.replayed += n - from;
            self.schedule.advanced(from, n, &keep);
        }
        if self.schedule.live == Some(n) {
            Ok(&self.live)
        } else {
            Ok(self.held.last().expect("the start is held"))
        }
    }

    /// Step n was swept back: x_n is no longer needed.
    pub fn passed(&mut self, n: usize) {
        let before = self.schedule.held.len();
        self.schedule.reversed(n);
        if self.schedule.held.len() < before
            && let Some(x) = self.held.pop()
        {
            self.tracker.ck_sub(size_of_val(&x[..]));
        }
    }

    /// Releases the remaining checkpoints and the live state.
    pub fn finish(self) {
        let bytes: usize = self.held.iter().map(|x| size_of_val(&x[..])).sum();
        self.tracker.ck_sub(bytes + size_of_val(&self.live[..]));
    }
}

/// One forward step j (t_j → t_{j+1} of `grid`) from `ws.x` into `ws.x1`, the arithmetic of
/// the forward driver's trial step with stage 0 evaluated afresh (FSAL's carried slope is
/// f(t_j, x_j) again, the same bits).
fn replay_step<T: Real>(
    dynamics: &dyn Dynamics<T>,
    sch: &Scheme<T>,
    s_eval: usize,
    grid: &Grid,
    j: usize,
    ws: &mut StepWorkspace<T>,
) {
    let (t, t_next) = (grid.t[j], grid.t[j + 1]);
    let h = t_next - t;
    let ht = T::of(h);
    dynamics.eval(T::of(t), &ws.x, &mut ws.k[0], &mut ws.scratch);
    for i in 1..s_eval {
        sch.stage_input(i, ht, &ws.x, &ws.k, &mut ws.xs);
        let ti = stage_time(t, h, sch.c(i), t_next);
        let (_, rest) = ws.k.split_at_mut(i);
        dynamics.eval(T::of(ti), &ws.xs, &mut rest[0], &mut ws.scratch);
    }
    if sch.is_fsal() && s_eval == sch.stages() {
        ws.x1.copy_from_slice(&ws.xs);
    } else {
        sch.update(s_eval, ht, &ws.x, &ws.k, &mut ws.x1);
    }
}
