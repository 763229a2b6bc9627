//! The [`GradientMethod`] trait, the [`ForwardPass`] between its two sweeps, and methods as
//! compositions of a [`BackwardKind`] and a [`StoragePolicy`].

use super::backward::{BackwardContext, BackwardKind};
use super::forward::{Recorded, Run, forward_chain, outputs_bytes, zero_gradients};
use super::memory::{MemoryPrediction, ProblemSizes};
use super::problem::{Outputs, Problem, check_cotangents};
use super::record::Record;
use super::storage::Keeps;
use super::storage::StoragePolicy;
use super::{GradResult, Stats};
use super::{per_sample, per_sample_partner};
use crate::error::SolveError;
use crate::real::Real;
use crate::solver::Grid;

/// What a forward sweep leaves for the backward sweep: the states at the output times, the
/// accepted grids and the records the method's storage policy kept. Made by
/// [`GradientMethod::forward`], consumed by [`GradientMethod::backward`] of the same method.
pub struct ForwardPass<'p, 'a, T: Real> {
    pub(crate) method: &'static str,
    pub(crate) problem: &'p Problem<'a, T>,
    pub(crate) run: Run<T>,
    pub(crate) outputs: Outputs<T>,
    pub(crate) grids: Vec<Grid>,
    pub(crate) records: Vec<Record<T>>,
    /// Under per-sample steps, each sample's grid `[component][sample]` (no records then:
    /// the backward sweep replays one sample at a time); empty otherwise.
    pub(crate) sample_grids: Vec<Vec<Grid>>,
    /// Under per-sample steps with the batched symplectic backward, each sample's step states
    /// `[component][sample]` (N_i·d elements each); empty otherwise.
    pub(crate) sample_states: Vec<Vec<Vec<T>>>,
}

impl<T: Real> ForwardPass<'_, '_, T> {
    /// States at the output times, `[component][output][batch·dim]`.
    pub fn outputs(&self) -> &Outputs<T> {
        &self.outputs
    }
    /// The accepted step grid of each component (empty grids under per-sample steps).
    pub fn grids(&self) -> &[Grid] {
        &self.grids
    }
    /// Under per-sample steps, each sample's accepted grid `[component][sample]`; else empty.
    pub fn sample_grids(&self) -> &[Vec<Grid>] {
        &self.sample_grids
    }
    /// A zeroed cotangent buffer of the outputs' shape, for ∂L/∂x(t_k).
    pub fn zero_cotangents(&self) -> Outputs<T> {
        self.problem.zero_outputs()
    }
    /// The forward counters and the memory held so far.
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        self.run.finish_stats(&mut s);
        s
    }
    /// The name of the method that made this pass.
    pub fn method(&self) -> &'static str {
        self.method
    }
}

/// A way to compute dL/dx0 and dL/dθ of a chained neural ODE: a forward sweep that keeps what
/// the method needs, then a backward sweep from the cotangents ∂L/∂x(t_k) at the output times.
///
/// The two sweeps are separate calls, so a loss can be computed anywhere between them:
///
/// ```
/// use symplode_runtime::grad::{GradientMethod, Problem};
/// use symplode_runtime::models::{Activation, Mlp, MlpConfig};
/// use symplode_runtime::{Scheme, Stepping, SymplecticAdjoint};
///
/// let cfg = MlpConfig { dim: 2, hidden: vec![8], activation: Activation::Tanh, time_input: true };
/// let net = Mlp::<f64>::new(cfg, 0).unwrap();
/// let scheme = Scheme::<f64>::builtin("rk4").unwrap();
/// let x0 = [0.5, -0.25];
/// let problem = Problem::single(&net, &[0.0, 1.0], &scheme, Stepping::fixed(10), &x0);
/// let method = SymplecticAdjoint;
/// let pass = method.forward(&problem).unwrap();
/// let x1 = pass.outputs()[0][0].to_vec(); // x(t = 1)
/// let mut cot = pass.zero_cotangents();
/// cot[0][0].copy_from_slice(&x1); // L = ½‖x(1)‖²
/// let loss = 0.5 * x1.iter().map(|v| v * v).sum::<f64>();
/// let g = method.backward(pass, &cot, loss).unwrap();
/// assert_eq!(g.dx0.len(), 2);
/// ```
pub trait GradientMethod<T: Real> {
    /// A short name (`"symplectic"`, `"backprop"`, …).
    fn name(&self) -> &'static str;
    /// Runs the forward sweep, keeping what the backward sweep needs.
    fn forward<'p, 'a>(
        &self,
        problem: &'p Problem<'a, T>,
    ) -> Result<ForwardPass<'p, 'a, T>, SolveError>;
    /// Runs the backward sweep of a forward pass of this method from the cotangents ∂L/∂x(t_k)
    /// (shape of [`ForwardPass::zero_cotangents`]); `loss` is reported back in the result.
    fn backward(
        &self,
        pass: ForwardPass<'_, '_, T>,
        cotangents: &Outputs<T>,
        loss: f64,
    ) -> Result<GradResult<T>, SolveError>;
    /// The peak bytes this method will hold for these sizes (see [`MemoryPrediction`]).
    fn predict(&self, sizes: &ProblemSizes) -> MemoryPrediction;
    /// Forward sweep, loss, backward sweep. `loss` receives the states at all output times and
    /// writes the cotangents ∂L/∂x(t_k) (its buffers start zeroed); it returns the loss value.
    fn gradient(
        &self,
        problem: &Problem<'_, T>,
        loss: &mut dyn FnMut(&Outputs<T>, &mut Outputs<T>) -> f64,
    ) -> Result<GradResult<T>, SolveError> {
        let pass = self.forward(problem)?;
        let mut cot = pass.zero_cotangents();
        let value = loss(pass.outputs(), &mut cot);
        self.backward(pass, &cot, value)
    }
}

/// A gradient method made of a backward kind and a storage policy. Any pair the backward kind
/// [supports](BackwardKind::supports) is a valid method; the named methods
/// ([`SymplecticAdjoint`](super::SymplecticAdjoint) and the others) are such pairs.
///
/// ```
/// use symplode_runtime::grad::{Composed, Partner, ComponentStarts, GradientMethod};
/// // The symplectic adjoint that keeps only each component's start state.
/// let m = Composed::new("symplectic-component", Partner, ComponentStarts);
/// assert_eq!(GradientMethod::<f64>::name(&m), "symplectic-component");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Composed<B, S> {
    /// The method's name.
    pub name: &'static str,
    /// How the backward sweep runs.
    pub backward: B,
    /// What the forward sweep keeps.
    pub storage: S,
}

impl<B: BackwardKind, S: StoragePolicy> Composed<B, S> {
    /// The composition of `backward` and `storage`, named `name`.
    pub fn new(name: &'static str, backward: B, storage: S) -> Self {
        Composed {
            name,
            backward,
            storage,
        }
    }
}

/// A gradient method defined by its composition; every `Composition` is a [`GradientMethod`].
pub trait Composition: Send + Sync {
    /// The backward kind.
    type Backward: BackwardKind;
    /// The storage policy.
    type Storage: StoragePolicy;
    /// The method's name.
    fn name(&self) -> &'static str;
    /// The backward kind of this method.
    fn backward_kind(&self) -> &Self::Backward;
    /// The storage policy of this method.
    fn storage(&self) -> Self::Storage;
}

impl<B: BackwardKind, S: StoragePolicy> Composition for Composed<B, S> {
    type Backward = B;
    type Storage = S;
    fn name(&self) -> &'static str {
        self.name
    }
    fn backward_kind(&self) -> &B {
        &self.backward
    }
    fn storage(&self) -> S {
        self.storage
    }
}

impl<T: Real, C: Composition> GradientMethod<T> for C {
    fn name(&self) -> &'static str {
        Composition::name(self)
    }

    fn forward<'p, 'a>(
        &self,
        problem: &'p Problem<'a, T>,
    ) -> Result<ForwardPass<'p, 'a, T>, SolveError> {
        composed_forward(self, problem, None)
    }

    fn backward(
        &self,
        pass: ForwardPass<'_, '_, T>,
        cotangents: &Outputs<T>,
        loss: f64,
    ) -> Result<GradResult<T>, SolveError> {
        let kind = self.backward_kind();
        if !pass.sample_states.is_empty() {
            return per_sample_partner::backward(Composition::name(self), pass, cotangents, loss);
        }
        if !pass.sample_grids.is_empty() {
            let storage = self.storage();
            return per_sample::backward(
                Composition::name(self),
                pass,
                cotangents,
                loss,
                |p, run, grids| forward_chain(p, run, &storage, Some(grids)),
                |cx, records| kind.run(cx, records),
            );
        }
        backward_shell(
            Composition::name(self),
            pass,
            cotangents,
            loss,
            |cx, records| kind.run(cx, records),
        )
    }

    fn predict(&self, z: &ProblemSizes) -> MemoryPrediction {
        let storage = self.storage();
        let store = storage.predict(z);
        let back = self.backward_kind().predict(storage.keeps(), z);
        MemoryPrediction {
            checkpoint_bytes: store.checkpoint + back.checkpoint,
            graph_bytes: z.max_scratch_bytes() + store.graph.max(back.graph),
            workspace_bytes: z.common_workspace_bytes() + store.workspace.max(back.workspace),
        }
    }
}

/// The part every backward sweep shares: checks the pass was made by `method`, checks and
/// counts the cotangents, zeroes dL/dx0 and dL/dθ, runs `sweep` on the records, and collects
/// the result with the counters and memory peaks.
pub(crate) fn backward_shell<T: Real>(
    method: &'static str,
    pass: ForwardPass<'_, '_, T>,
    cotangents: &Outputs<T>,
    loss: f64,
    sweep: impl FnOnce(BackwardContext<'_, '_, T>, Vec<Record<T>>) -> Result<(), SolveError>,
) -> Result<GradResult<T>, SolveError> {
    let ForwardPass {
        method: made_by,
        problem,
        mut run,
        outputs,
        grids,
        records,
        sample_grids,
        ..
    } = pass;
    if made_by != method {
        return Err(SolveError::BadOption {
            name: "forward pass",
            value: made_by.to_string(),
            reason: "a forward pass goes back through the backward sweep of the method that made it",
        });
    }
    check_cotangents(&outputs, cotangents)?;
    run.tracker.ws_add(outputs_bytes(cotangents));
    let mut stats = Stats::default();
    let (mut lam, mut dtheta) = zero_gradients(&run, problem);
    let cx = BackwardContext {
        problem,
        run: &mut run,
        outputs: &outputs,
        grids: &grids,
        cot: cotangents,
        lam: &mut lam,
        dtheta: &mut dtheta,
        stats: &mut stats,
    };
    sweep(cx, records)?;
    run.finish_stats(&mut stats);
    Ok(GradResult {
        loss,
        outputs,
        dx0: lam,
        dtheta,
        grids,
        sample_grids,
        stats,
    })
}

/// Whether per-sample steps run the batched symplectic backward (the partner kind on step
/// states or stages: every sample's xₙ kept, all samples swept back together); other pairs
/// replay one sample at a time, keeping only what their storage policy keeps.
fn batched_partner<B: BackwardKind, S: StoragePolicy>(kind: &B, storage: &S) -> bool {
    kind.name() == "partner" && matches!(storage.keeps(), Keeps::StepStates | Keeps::StepStages)
}

/// The forward sweep of a composed method; with `replay`, on the given grids.
fn composed_forward<'p, 'a, T: Real, C: Composition>(
    method: &C,
    problem: &'p Problem<'a, T>,
    replay: Option<&[Grid]>,
) -> Result<ForwardPass<'p, 'a, T>, SolveError> {
    problem.validate()?;
    let (kind, storage) = (method.backward_kind(), method.storage());
    kind.validate()?;
    storage.validate()?;
    if !kind.supports(storage.keeps()) {
        return Err(SolveError::BadOption {
            name: "gradient method",
            value: format!("{} backward with {} storage", kind.name(), storage.name()),
            reason: "this backward kind cannot run on what that storage policy keeps",
        });
    }
    if problem.stepping.is_per_sample() {
        if replay.is_some() {
            return Err(SolveError::BadOption {
                name: "stepping",
                value: "per-sample".into(),
                reason: "frozen grids are one per component, shared by the batch; per-sample steps give each sample its own",
            });
        }
        return per_sample::forward(
            Composition::name(method),
            problem,
            batched_partner(kind, &storage),
        );
    }
    let mut run = Run::new(problem);
    let Recorded {
        outputs,
        grids,
        records,
    } = forward_chain(problem, &mut run, &storage, replay)?;
    Ok(ForwardPass {
        method: Composition::name(method),
        problem,
        run,
        outputs,
        grids,
        records,
        sample_grids: Vec::new(),
        sample_states: Vec::new(),
    })
}

/// The forward sweep of `method` on frozen step grids (one per component, e.g. the
/// [`ForwardPass::grids`] of an earlier adaptive pass): the same stages are evaluated as on
/// the pass that made the grids, without error estimates or rejected trials. Its
/// [`GradientMethod::backward`] then gives the gradient of the discrete solution on those grids.
///
/// Errors: as [`GradientMethod::forward`], and [`SolveError::GridMismatch`] when the number of
/// grids is not the number of components or a grid does not land on the component's times.
pub fn forward_on_grids<'p, 'a, T: Real, C: Composition>(
    method: &C,
    problem: &'p Problem<'a, T>,
    grids: &[Grid],
) -> Result<ForwardPass<'p, 'a, T>, SolveError> {
    composed_forward(method, problem, Some(grids))
}
