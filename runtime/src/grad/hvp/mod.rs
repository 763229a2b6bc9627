//! Hessian-vector products through the symplectic adjoint: [`hvp`] returns `H·v`, the
//! Hessian of the loss of the *discrete* solution with respect to (x₀, θ) times a direction
//! `v = (v_x0, v_θ)`, with the gradient as a by-product.
//!
//! # Method
//!
//! Forward-mode tangents through the forward solve and the symplectic adjoint sweep. Each
//! component's dynamics give their tangent system ([`SecondOrder`](crate::second_order::SecondOrder)) in the direction v_θ:
//!
//! ```text
//! d/dt [x | ẋ] = [ f(x, t; θ) | ∂f/∂x · ẋ + ∂f/∂θ · v_θ ],    [x | ẋ](t₀) = [x₀ | v_x0]
//! ```
//!
//! A Runge–Kutta step of this system is the step of `f` together with its exact tangent (the
//! tableau is linear in the slopes), so its step states are xₙ and their tangents ẋₙ. Then the
//! symplectic adjoint of the tangent system runs from the cotangents `[∇²L·ẋ(t_k) | ∇L(t_k)]`:
//! its ẋ half is the ordinary adjoint λ, and its x half is the tangent λ̇ of λ (the VJP of the
//! tangent system is the tangent of f's VJP, see
//! [`symplode_codegen::ad::tangent_system`]). So one sweep returns
//!
//! ```text
//! hv_x0 = ∂²L/∂x₀² · v_x0 + ∂²L/∂x₀∂θ · v_θ        dx0    = ∂L/∂x₀
//! hv_θ  = ∂²L/∂θ∂x₀ · v_x0 + ∂²L/∂θ² · v_θ         dtheta = ∂L/∂θ
//! ```
//!
//! (θ is every component's parameters; `v_θ` and `hv_θ` have one block per component). With
//! `v_x0 = 0` this is the parameter block `∂²L/∂θ²·v_θ` and the mixed block `∂²L/∂x₀∂θ·v_θ`;
//! with `v_θ = 0` the state block `∂²L/∂x₀²·v_x0` and the mixed block `∂²L/∂θ∂x₀·v_x0`.
//!
//! **Adaptive stepping**: the grid is frozen. The problem is solved once with step control
//! (the accepted grid depends on x₀ and θ only through the controller, which is not
//! differentiated), then the tangent system is integrated on that grid. The result is the
//! Hessian of the discrete solution on the accepted grid, as backprop over backprop through
//! the same steps would give.
//!
//! **Memory**: the symplectic adjoint of a system of twice the width: step states and their
//! tangents (2·N states), S stage states and their tangents, one evaluation of the tangent
//! system; [`hvp_predict`] says how many bytes, [`Stats`] reports what was counted.

mod loss;

pub use loss::{Linear, MeanSqFinal, MeanSquaredError, SecondOrderLoss};

use super::forward::outputs_bytes;
use super::memory::{MemoryPrediction, ProblemSizes};
use super::method::{GradientMethod, forward_on_grids};
use super::problem::{Component, Outputs, Problem};
use super::{Stats, SymplecticAdjoint};
use crate::error::SolveError;
use crate::real::Real;
use crate::second_order::TangentSystem;
use crate::solver::{Grid, Stepping, Trajectory};

/// The direction `v = (v_x0, v_θ)` of a Hessian-vector product.
#[derive(Clone, Debug, PartialEq)]
pub struct Direction<T> {
    /// The initial-state part, `[batch·dim]` (zeros for a pure parameter direction).
    pub x0: Vec<T>,
    /// The parameter part, one block per component in its flat parameter layout.
    pub theta: Vec<Vec<T>>,
}

impl<T: Real> Direction<T> {
    /// The zero direction of `problem`'s shapes.
    pub fn zeros(problem: &Problem<'_, T>) -> Self {
        Direction {
            x0: vec![T::zero(); problem.x0.len()],
            theta: problem
                .chain
                .iter()
                .map(|c| vec![T::zero(); c.dynamics.n_params()])
                .collect(),
        }
    }
}

/// The result of [`hvp`].
#[derive(Clone, Debug)]
pub struct HvpResult<T: Real> {
    /// The loss value.
    pub loss: f64,
    /// States at the output times, `[component][output][batch·dim]`.
    pub outputs: Outputs<T>,
    /// ∂L/∂x₀, `[batch·dim]`.
    pub dx0: Vec<T>,
    /// ∂L/∂θ per component.
    pub dtheta: Vec<Vec<T>>,
    /// `∂²L/∂x₀² · v_x0 + ∂²L/∂x₀∂θ · v_θ`, `[batch·dim]`.
    pub hv_x0: Vec<T>,
    /// `∂²L/∂θ∂x₀ · v_x0 + ∂²L/∂θ² · v_θ`, per component.
    pub hv_theta: Vec<Vec<T>>,
    /// The (frozen) step grid of each component.
    pub grids: Vec<Grid>,
    /// Counters and memory of the tangent sweep (states of width 2d). `accepted` is the steps
    /// of the frozen grids; the adaptive pre-pass that chose them adds its evaluations to
    /// `nfe_forward` and its rejected trials to `rejected` (its memory, at most the tangent
    /// sweep's, is freed before the sweep and not in the peaks).
    pub stats: Stats,
}

/// The tangent system of every component of `problem` in the directions `theta`.
fn tangent_systems<T: Real>(
    problem: &Problem<'_, T>,
    theta: &[Vec<T>],
) -> Result<Vec<TangentSystem<T>>, SolveError> {
    problem
        .chain
        .iter()
        .enumerate()
        .map(|(m, c)| {
            let so = c
                .dynamics
                .second_order()
                .ok_or(SolveError::NoSecondOrder(m))?;
            so.tangent_system(&theta[m])
                .map_err(|source| SolveError::SecondOrder {
                    component: m,
                    source,
                })
        })
        .collect()
}

/// Rows `[a | b]` from two `[B,d]` slices.
fn pack<T: Real>(d: usize, a: &[T], b: &[T]) -> Vec<T> {
    let mut z = vec![T::zero(); 2 * a.len()];
    for ((row, a), b) in z
        .chunks_exact_mut(2 * d)
        .zip(a.chunks_exact(d))
        .zip(b.chunks_exact(d))
    {
        row[..d].copy_from_slice(a);
        row[d..].copy_from_slice(b);
    }
    z
}

/// The halves `(a, b)` of rows `[a | b]`.
fn unpack<T: Real>(d: usize, z: &[T]) -> (Vec<T>, Vec<T>) {
    let mut a = Vec::with_capacity(z.len() / 2);
    let mut b = Vec::with_capacity(z.len() / 2);
    for row in z.chunks_exact(2 * d) {
        a.extend_from_slice(&row[..d]);
        b.extend_from_slice(&row[d..]);
    }
    (a, b)
}

fn check_direction<T: Real>(problem: &Problem<'_, T>, v: &Direction<T>) -> Result<(), SolveError> {
    let len = |what: String, expected: usize, got: usize| {
        if expected == got {
            Ok(())
        } else {
            Err(SolveError::Length {
                what,
                expected,
                got,
            })
        }
    };
    len(
        "direction v_x0 (batch·dim)".into(),
        problem.x0.len(),
        v.x0.len(),
    )?;
    len(
        "direction v_θ (one block per component)".into(),
        problem.chain.len(),
        v.theta.len(),
    )?;
    for (m, (c, t)) in problem.chain.iter().zip(&v.theta).enumerate() {
        len(
            format!("direction v_θ of component {m}"),
            c.dynamics.n_params(),
            t.len(),
        )?;
    }
    if v.x0.iter().any(|x| !x.is_finite()) {
        return Err(SolveError::NonFinite {
            what: "direction v_x0",
            component: 0,
            step: 0,
            t: problem.chain[0].times[0],
        });
    }
    Ok(())
}

/// The Hessian-vector product `H·v` of the loss of `problem`'s discrete solution with respect
/// to (x₀, θ), and the gradient (see the [module documentation](self) for the blocks).
///
/// Every component's dynamics must be second order ([`crate::Dynamics::second_order`]);
/// adaptive stepping freezes the accepted grid of a first solve.
///
/// Errors: a bad problem or direction (shapes, non-finite values), dynamics without second
/// derivatives ([`SolveError::NoSecondOrder`]), and every error of the solve and the sweep.
///
/// ```
/// use symplode_runtime::grad::hvp::{Direction, MeanSqFinal, hvp};
/// use symplode_runtime::grad::Problem;
/// use symplode_runtime::models::{Activation, Mlp, MlpConfig};
/// use symplode_runtime::{Scheme, Stepping};
///
/// let cfg = MlpConfig { dim: 2, hidden: vec![8], activation: Activation::Tanh, time_input: true };
/// let net = Mlp::<f64>::new(cfg, 0).unwrap();
/// let scheme = Scheme::<f64>::builtin("rk4").unwrap();
/// let x0 = [0.5, -0.25];
/// let problem = Problem::single(&net, &[0.0, 1.0], &scheme, Stepping::fixed(10), &x0);
/// let mut v = Direction::zeros(&problem);
/// v.theta[0][0] = 1.0; // the first weight
/// let r = hvp(&problem, &mut MeanSqFinal { dim: 2 }, &v).unwrap();
/// assert_eq!(r.hv_theta[0].len(), net_params(&problem));
/// # fn net_params(p: &Problem<'_, f64>) -> usize { p.chain[0].dynamics.n_params() }
/// ```
pub fn hvp<T: Real>(
    problem: &Problem<'_, T>,
    loss: &mut dyn SecondOrderLoss<T>,
    v: &Direction<T>,
) -> Result<HvpResult<T>, SolveError> {
    problem.validate()?;
    check_direction(problem, v)?;
    let systems = tangent_systems(problem, &v.theta)?;
    let d = problem.dim();
    // Freeze the grid: a first solve with step control (adaptive only).
    let (grids, pre) = match problem.stepping {
        Stepping::Adaptive(_) => {
            // A forward sweep that keeps only the outputs (the continuous adjoint's storage);
            // its accepted grids are what we need.
            let pass = GradientMethod::forward(&super::Adjoint::default(), problem)?;
            let stats = pass.stats();
            (Some(pass.grids().to_vec()), stats)
        }
        Stepping::Fixed { .. } => (None, Stats::default()),
    };
    let z0 = pack(d, problem.x0, &v.x0);
    let lifted = Problem {
        chain: problem
            .chain
            .iter()
            .zip(&systems)
            .map(|(c, s)| Component {
                dynamics: s,
                times: c.times.clone(),
            })
            .collect(),
        scheme: problem.scheme,
        stepping: problem.stepping.clone(),
        x0: &z0,
    };
    let method = SymplecticAdjoint;
    let pass = match &grids {
        Some(g) => forward_on_grids(&method, &lifted, g)?,
        None => GradientMethod::forward(&method, &lifted)?,
    };
    // Split the lifted outputs into states and tangents; the loss and its Hessian on them.
    let (mut outputs, mut tangents) = (problem.zero_outputs(), problem.zero_outputs());
    for (m, comp) in pass.outputs().iter().enumerate() {
        for (k, z) in comp.iter().enumerate() {
            let (x, xd) = unpack(d, z);
            outputs[m][k].copy_from_slice(&x);
            tangents[m][k].copy_from_slice(&xd);
        }
    }
    let mut cot = problem.zero_outputs();
    let value = loss.value_and_cotangents(&outputs, &mut cot);
    let mut hcot = problem.zero_outputs();
    loss.hessian_tangent(&outputs, &tangents, &mut hcot);
    let lifted_cot: Outputs<T> = cot
        .iter()
        .zip(&hcot)
        .map(|(c, h)| {
            let data: Vec<T> = h
                .iter()
                .zip(c.iter())
                .flat_map(|(h, c)| pack(d, h, c))
                .collect();
            Trajectory::from_vec(data, 2 * c.state_len()).unwrap_or_else(|| Trajectory::zeros(0, 0))
        })
        .collect();
    // The split copies (states, tangents, cotangents and their tangents: 2 lifted output
    // buffers) are held through the backward sweep.
    let split_bytes = 2 * outputs_bytes(pass.outputs());
    pass.run.tracker.ws_add(split_bytes);
    let g = GradientMethod::backward(&method, pass, &lifted_cot, value)?;
    let (hv_x0, dx0) = unpack(d, &g.dx0);
    let (hv_theta, dtheta) = g
        .dtheta
        .iter()
        .map(|q| {
            let (a, b) = q.split_at(q.len() / 2);
            (a.to_vec(), b.to_vec())
        })
        .unzip();
    let mut stats = g.stats;
    stats.nfe_forward += pre.nfe_forward;
    stats.rejected += pre.rejected;
    Ok(HvpResult {
        loss: value,
        outputs,
        dx0,
        dtheta,
        hv_x0,
        hv_theta,
        grids: g.grids,
        stats,
    })
}

/// The sizes of [`hvp`]'s tangent sweep on `problem` when component m takes `steps[m]`
/// accepted steps: the problem of the tangent systems (state width 2d, parameters [θ, θ̇]).
///
/// Errors: as [`hvp`] for a component without second derivatives.
pub fn hvp_sizes<T: Real>(
    problem: &Problem<'_, T>,
    steps: &[usize],
) -> Result<ProblemSizes, SolveError> {
    let theta: Vec<Vec<T>> = problem
        .chain
        .iter()
        .map(|c| vec![T::zero(); c.dynamics.n_params()])
        .collect();
    let systems = tangent_systems(problem, &theta)?;
    let z0 = vec![T::zero(); 2 * problem.x0.len()];
    let lifted = Problem {
        chain: problem
            .chain
            .iter()
            .zip(&systems)
            .map(|(c, s)| Component {
                dynamics: s,
                times: c.times.clone(),
            })
            .collect(),
        scheme: problem.scheme,
        stepping: problem.stepping.clone(),
        x0: &z0,
    };
    Ok(ProblemSizes::of(&lifted, steps))
}

/// The peak bytes [`hvp`] holds for the sizes of [`hvp_sizes`]: the symplectic adjoint's on
/// the tangent systems (step states and their tangents, S stage states and their tangents,
/// one evaluation of the tangent system, the buffers), plus the outputs and cotangents split
/// into states and tangents.
pub fn hvp_predict(sizes: &ProblemSizes) -> MemoryPrediction {
    let mut p = GradientMethod::<f64>::predict(&SymplecticAdjoint, sizes);
    // The outputs and cotangents split into states and tangents (see `hvp`).
    let outputs: usize = sizes.components.iter().map(|c| c.outputs).sum();
    p.workspace_bytes += 2 * outputs * sizes.state_bytes();
    p
}
