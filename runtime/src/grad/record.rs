//! What a forward sweep records of one component for the backward sweep: the stage sinks of the
//! storage policies ([`super::storage`]) and the [`Record`] they leave.

use super::binomial::{BinomialKept, BinomialSink};
use super::memory::Tracker;
use crate::dynamics::Dynamics;
use crate::real::Real;
use crate::solver::Trajectory;
use crate::solver::sink::StageSink;

/// What the forward sweep kept of one component, by storage policy.
pub(crate) enum Kept<T> {
    /// Nothing besides the output states (the continuous adjoint).
    Nothing,
    /// The component's start state.
    Start(Vec<T>),
    /// xₙ at the start of every accepted step.
    States(Vec<Vec<T>>),
    /// The S effective stage states of every accepted step, `S·n` elements each.
    Stages(Vec<Vec<T>>),
    /// The effective stages' inputs and tapes of every accepted step.
    Tapes(Vec<StepTapes<T>>),
    /// The start, the binomial schedule's checkpoints and the live state.
    Binomial(BinomialKept<T>),
    /// Pairs (y, z) of the reversible scheme: y_N, z_N, or every pair y_0, z_0, y_1, ….
    Pairs(Vec<Vec<T>>),
}

impl<T> Kept<T> {
    /// The storage policy's name of what is kept (for error messages).
    pub fn what(&self) -> &'static str {
        match self {
            Kept::Nothing => "output states",
            Kept::Start(_) => "component starts",
            Kept::States(_) => "step states",
            Kept::Stages(_) => "step stages",
            Kept::Tapes(_) => "all tapes",
            Kept::Binomial(_) => "binomial states",
            Kept::Pairs(_) => "reversible pairs",
        }
    }
}

/// The record one component's forward sweep leaves for the backward sweep (what its storage
/// policy kept). Made by [`GradientMethod::forward`](super::GradientMethod::forward) and consumed
/// by the backward sweep of the same method.
pub struct Record<T> {
    pub(crate) kept: Kept<T>,
}

impl<T> Record<T> {
    /// The storage policy's name of what this record holds.
    pub fn holds(&self) -> &'static str {
        self.kept.what()
    }
}

/// The stage sink of a storage policy while one component is integrated; made by
/// [`StoragePolicy::recorder`](super::StoragePolicy::recorder).
pub struct Recorder<'a, T: Real>(pub(crate) Rec<'a, T>);

/// The sinks of the built-in storage policies.
pub(crate) enum Rec<'a, T: Real> {
    /// Keeps nothing during the integration; counts the output states as checkpoints.
    Outputs(PlainSink<'a, T>, &'a Tracker),
    /// Keeps the start state (taken when the recorder is made).
    Start(PlainSink<'a, T>, Vec<T>),
    /// Keeps xₙ per step.
    States(CheckpointSink<'a, T>),
    /// Keeps the S stage states per step.
    Stages(StageStateSink<'a, T>),
    /// Keeps the tapes of every stage.
    Tapes(TapeSink<'a, T>),
    /// Keeps the binomial schedule's checkpoints.
    Binomial(BinomialSink<'a, T>),
}

impl<T: Real> Recorder<'_, T> {
    /// The record, once the component's integration is done (temporary buffers released);
    /// `outputs` are the component's output states.
    pub(crate) fn finish(self, outputs: &Trajectory<T>) -> Record<T> {
        let kept = match self.0 {
            Rec::Outputs(_, tracker) => {
                tracker.ck_add(std::mem::size_of_val(outputs.as_slice()));
                Kept::Nothing
            }
            Rec::Start(_, x) => Kept::Start(x),
            Rec::States(s) => Kept::States(s.states),
            Rec::Stages(s) => Kept::Stages(s.into_steps()),
            Rec::Tapes(s) => Kept::Tapes(s.into_steps()),
            Rec::Binomial(s) => Kept::Binomial(s.into_kept()),
        };
        Record { kept }
    }
}

impl<'a, T: Real> Recorder<'a, T> {
    fn sink(&mut self) -> &mut dyn StageSink<T> {
        match &mut self.0 {
            Rec::Outputs(s, _) | Rec::Start(s, _) => s,
            Rec::States(s) => s,
            Rec::Stages(s) => s,
            Rec::Tapes(s) => s,
            Rec::Binomial(s) => s,
        }
    }
}

impl<T: Real> StageSink<T> for Recorder<'_, T> {
    fn eval(&mut self, i: usize, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]) {
        self.sink().eval(i, t, x, k, scratch);
    }
    fn probe(&mut self, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]) {
        self.sink().probe(t, x, k, scratch);
    }
    fn accept(&mut self, t0: f64, t1: f64, x_n: &[T], fsal: bool) {
        self.sink().accept(t0, t1, x_n, fsal);
    }
}

/// Evaluates stages and stores nothing.
pub(crate) struct PlainSink<'a, T: Real> {
    pub dynamics: &'a dyn Dynamics<T>,
}

impl<T: Real> StageSink<T> for PlainSink<'_, T> {
    fn eval(&mut self, _i: usize, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]) {
        self.dynamics.eval(T::of(t), x, k, scratch);
    }
    fn probe(&mut self, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]) {
        self.dynamics.eval(T::of(t), x, k, scratch);
    }
    fn accept(&mut self, _t0: f64, _t1: f64, _x_n: &[T], _fsal: bool) {}
}

/// Evaluates stages and keeps the state at the start of every accepted step (ACA, symplectic).
pub(crate) struct CheckpointSink<'a, T: Real> {
    pub dynamics: &'a dyn Dynamics<T>,
    pub states: Vec<Vec<T>>,
    pub tracker: &'a Tracker,
}

impl<T: Real> StageSink<T> for CheckpointSink<'_, T> {
    fn eval(&mut self, _i: usize, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]) {
        self.dynamics.eval(T::of(t), x, k, scratch);
    }
    fn probe(&mut self, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]) {
        self.dynamics.eval(T::of(t), x, k, scratch);
    }
    fn accept(&mut self, _t0: f64, _t1: f64, x_n: &[T], _fsal: bool) {
        self.tracker.ck_add(std::mem::size_of_val(x_n));
        self.states.push(x_n.to_vec());
    }
}

/// One stored stage evaluation: its input state and its tape.
#[derive(Default)]
pub(crate) struct StageTape<T> {
    pub input: Vec<T>,
    pub tape: Vec<T>,
}

impl<T: Real> StageTape<T> {
    /// Elements of one stored stage: its input state and its tape.
    pub fn len(state_len: usize, tape_len: usize) -> usize {
        state_len + tape_len
    }
    /// A zeroed stage of these sizes.
    pub fn zeroed(state_len: usize, tape_len: usize) -> Self {
        StageTape {
            input: vec![T::zero(); state_len],
            tape: vec![T::zero(); tape_len],
        }
    }
}

/// The stored effective stages of one accepted step from `t0` to `t1`.
pub(crate) struct StepTapes<T> {
    pub t0: f64,
    pub t1: f64,
    pub stages: Vec<StageTape<T>>,
}

/// Evaluates stages with tapes and keeps the effective stages of every accepted step
/// (backprop, checkpoint per component). With FSAL the last stage's tape is carried over as
/// the next step's first.
pub(crate) struct TapeSink<'a, T: Real> {
    dynamics: &'a dyn Dynamics<T>,
    pool: Vec<StageTape<T>>,
    effective: usize,
    state_len: usize,
    tape_len: usize,
    pub steps: Vec<StepTapes<T>>,
    tracker: &'a Tracker,
}

impl<'a, T: Real> TapeSink<'a, T> {
    pub fn new(
        dynamics: &'a dyn Dynamics<T>,
        state_len: usize,
        stages_evaluated: usize,
        effective: usize,
        tracker: &'a Tracker,
    ) -> Self {
        let batch = state_len / dynamics.dim().max(1);
        let mut sink = TapeSink {
            dynamics,
            pool: Vec::with_capacity(stages_evaluated),
            effective,
            state_len,
            tape_len: dynamics.tape_len(batch),
            steps: Vec::new(),
            tracker,
        };
        for _ in 0..stages_evaluated {
            let pair = sink.fresh();
            sink.pool.push(pair);
        }
        sink
    }

    fn pair_bytes(&self) -> usize {
        StageTape::<T>::len(self.state_len, self.tape_len) * std::mem::size_of::<T>()
    }

    fn fresh(&self) -> StageTape<T> {
        self.tracker.gr_add(self.pair_bytes());
        StageTape::zeroed(self.state_len, self.tape_len)
    }

    /// Releases the trial pool, keeping the stored steps.
    pub fn into_steps(self) -> Vec<StepTapes<T>> {
        self.tracker.gr_sub(self.pool.len() * self.pair_bytes());
        self.steps
    }
}

impl<T: Real> StageSink<T> for TapeSink<'_, T> {
    fn eval(&mut self, i: usize, t: f64, x: &[T], k: &mut [T], _scratch: &mut [T]) {
        let slot = &mut self.pool[i];
        slot.input.copy_from_slice(x);
        self.dynamics.eval_taped(T::of(t), x, k, &mut slot.tape);
    }
    fn probe(&mut self, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]) {
        self.dynamics.eval(T::of(t), x, k, scratch);
    }
    fn accept(&mut self, t0: f64, t1: f64, _x_n: &[T], fsal: bool) {
        let last = self.pool.len() - 1;
        let carried = fsal.then(|| std::mem::take(&mut self.pool[last]));
        let stages = (0..self.effective)
            .map(|i| std::mem::take(&mut self.pool[i]))
            .collect();
        self.steps.push(StepTapes { t0, t1, stages });
        if let Some(c) = carried {
            self.pool[0] = c;
        }
        for i in 0..self.pool.len() {
            if self.pool[i].input.is_empty() && self.state_len > 0 {
                self.pool[i] = self.fresh();
            }
        }
    }
}

/// Releases the bytes of stored step tapes from the tracker.
pub(crate) fn release_tapes<T: Real>(steps: Vec<StepTapes<T>>, tracker: &Tracker) {
    let bytes: usize = steps
        .iter()
        .flat_map(|s| &s.stages)
        .map(|p| std::mem::size_of_val(&p.input[..]) + std::mem::size_of_val(&p.tape[..]))
        .sum();
    tracker.gr_sub(bytes);
}

/// Evaluates stages and keeps, for every accepted step, its S effective stage states in one
/// flat buffer: xₙ (stage 1's input) followed by the inputs X₂..X_S (the symplectic adjoint
/// with stored stages). The current trial's stage inputs wait in `trial` until the step is
/// accepted.
pub(crate) struct StageStateSink<'a, T: Real> {
    pub dynamics: &'a dyn Dynamics<T>,
    /// Effective stages S.
    pub effective: usize,
    /// Stage inputs X₂..X_S of the current trial step, `(S − 1)·n` elements.
    pub trial: Vec<T>,
    /// Per accepted step: `S·n` elements.
    pub steps: Vec<Vec<T>>,
    pub tracker: &'a Tracker,
}

impl<'a, T: Real> StageStateSink<'a, T> {
    /// A sink for states of `state_len` elements; counts its trial buffer as workspace.
    pub fn new(
        dynamics: &'a dyn Dynamics<T>,
        effective: usize,
        state_len: usize,
        tracker: &'a Tracker,
    ) -> Self {
        let trial = vec![T::zero(); Self::trial_len(effective, state_len)];
        tracker.ws_add(std::mem::size_of_val(&trial[..]));
        StageStateSink {
            dynamics,
            effective,
            trial,
            steps: Vec::new(),
            tracker,
        }
    }

    /// Elements of the trial buffer: the stage inputs X₂..X_S of one step.
    pub fn trial_len(effective: usize, state_len: usize) -> usize {
        effective.saturating_sub(1) * state_len
    }

    /// The stored steps; the trial buffer's bytes are released.
    pub fn into_steps(self) -> Vec<Vec<T>> {
        self.tracker.ws_sub(std::mem::size_of_val(&self.trial[..]));
        self.steps
    }
}

impl<T: Real> StageSink<T> for StageStateSink<'_, T> {
    fn eval(&mut self, i: usize, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]) {
        if i >= 1 && i < self.effective {
            let n = x.len();
            self.trial[(i - 1) * n..i * n].copy_from_slice(x);
        }
        self.dynamics.eval(T::of(t), x, k, scratch);
    }
    fn probe(&mut self, t: f64, x: &[T], k: &mut [T], scratch: &mut [T]) {
        self.dynamics.eval(T::of(t), x, k, scratch);
    }
    fn accept(&mut self, _t0: f64, _t1: f64, x_n: &[T], _fsal: bool) {
        let mut all = Vec::with_capacity(x_n.len() + self.trial.len());
        all.extend_from_slice(x_n);
        all.extend_from_slice(&self.trial);
        self.tracker.ck_add(std::mem::size_of_val(&all[..]));
        self.steps.push(all);
    }
}
