//! The ground-truth integrator: the discrete variational derivative (DVD) scheme, each step
//! `(v − u)/dt = F(u, v)` solved by Newton's method from the explicit Euler guess.
//!
//! DGNet solves each step with `scipy.optimize.fsolve(xtol = 1e-10)`; here Newton with the
//! exact (dense) Jacobian runs until the max-norm of the update is at most `tol`
//! (default `1e-10`). Newton converges quadratically, so the residual after the last update
//! is at rounding level and the scheme's invariants hold to rounding (KdV energy and mass,
//! CH mass; CH energy never increases).

use super::dense_lu::solve_in_place;
use super::error::PhysicsError;
use super::system::PdeSystem;

/// Options of [`integrate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DvdOptions {
    /// Time step.
    pub dt: f64,
    /// Steps (the trajectory has `steps + 1` states).
    pub steps: usize,
    /// Newton stops when `‖Δv‖∞ ≤ tol`.
    pub tol: f64,
    /// Most Newton iterations per step.
    pub max_iterations: usize,
}

impl DvdOptions {
    /// `dt`, `steps`, tolerance `1e-10`, at most 50 iterations.
    pub fn new(dt: f64, steps: usize) -> Self {
        DvdOptions {
            dt,
            steps,
            tol: 1e-10,
            max_iterations: 50,
        }
    }
}

/// Integrates `u0` with the DVD scheme; returns the `steps + 1` states, row-major
/// `[steps + 1, n]`. `trajectory` only labels errors.
///
/// # Errors
/// [`PhysicsError::NewtonDiverged`], [`PhysicsError::SingularJacobian`],
/// [`PhysicsError::NonFinite`] naming the trajectory and step; [`PhysicsError::Config`] for
/// a bad `dt`, tolerance or initial state length.
pub fn integrate(
    system: &PdeSystem,
    u0: &[f64],
    opts: &DvdOptions,
    trajectory: usize,
) -> Result<Vec<f64>, PhysicsError> {
    system.validate()?;
    let n = system.n;
    if u0.len() != n {
        return Err(PhysicsError::Config {
            field: "u0".into(),
            reason: format!("has {} values, the grid has {n} points", u0.len()),
        });
    }
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if !(positive(opts.dt) && positive(opts.tol)) {
        return Err(PhysicsError::Config {
            field: "dt/tol".into(),
            reason: format!(
                "dt and tol must be finite and > 0, got {} and {}",
                opts.dt, opts.tol
            ),
        });
    }
    let name = system.kind.name();
    let mut out = Vec::with_capacity((opts.steps + 1) * n);
    out.extend_from_slice(u0);
    let (mut v, mut r, mut jac) = (vec![0.0; n], vec![0.0; n], vec![0.0; n * n]);
    for step in 0..opts.steps {
        let u = out[step * n..][..n].to_vec();
        if u.iter().any(|x| !x.is_finite()) {
            return Err(PhysicsError::NonFinite {
                system: name,
                trajectory,
                step,
            });
        }
        system.rhs(&u, &mut r);
        for k in 0..n {
            v[k] = u[k] + opts.dt * r[k];
        }
        let mut last = f64::INFINITY;
        let mut converged = false;
        for _ in 0..opts.max_iterations {
            system.dvd_residual(&u, &v, opts.dt, &mut r);
            system.dvd_jacobian(&u, &v, opts.dt, &mut jac);
            for x in r.iter_mut() {
                *x = -*x;
            }
            solve_in_place(&mut jac, &mut r, n).map_err(|(column, pivot)| {
                PhysicsError::SingularJacobian {
                    system: name,
                    trajectory,
                    step,
                    column,
                    pivot,
                }
            })?;
            last = r.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            for k in 0..n {
                v[k] += r[k];
            }
            if last <= opts.tol {
                converged = true;
                break;
            }
            if !last.is_finite() {
                break;
            }
        }
        if !converged {
            return Err(PhysicsError::NewtonDiverged {
                system: name,
                trajectory,
                step,
                iterations: opts.max_iterations,
                update: last,
                tolerance: opts.tol,
            });
        }
        out.extend_from_slice(&v);
    }
    Ok(out)
}
