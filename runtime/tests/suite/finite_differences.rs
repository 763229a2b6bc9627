//! Every method against central differences of the discrete solution on the accepted grid.

use crate::common::*;
use symplode_runtime::grad::Problem;
use symplode_runtime::solver::solve;
use symplode_runtime::{Dynamics, Stepping};

/// L(θ, x0) = Σ_k ⟨c_k, x(t_k)⟩ with the grid frozen: every accepted step becomes one fixed step.
fn frozen_loss(
    net: &dyn Dynamics<f64>,
    sch: &symplode_runtime::Scheme<f64>,
    grid: &symplode_runtime::solver::Grid,
    x0: &[f64],
    cot: &symplode_runtime::solver::Trajectory<f64>,
) -> f64 {
    let sol = solve(net, sch, &Stepping::fixed(1), &grid.t, x0).expect("solve");
    grid.output_at
        .iter()
        .zip(cot)
        .map(|(&n, c)| {
            sol.states[n - 1]
                .iter()
                .zip(c)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        })
        .sum()
}

fn check(name: &str, adaptive: bool) {
    let sch = scheme::<f64>(name);
    let mut net = mlp::<f64>(2, 4, 21);
    let x0 = random_state::<f64>(2 * 3, 5);
    let times = [0.0, 0.5, 1.0];
    let (cot, grad, grid) = {
        let problem = Problem::single(&net, &times, &sch, stepping_for(name, adaptive), &x0);
        let cot = random_cotangents(&problem, 9);
        let g = run(&symplode_runtime::SymplecticAdjoint, &problem, &cot);
        (cot, g.clone(), g.grids[0].clone())
    };
    let eps = 1e-6;
    let tol = 1e-6;
    for i in 0..x0.len() {
        let (mut xp, mut xm) = (x0.clone(), x0.clone());
        xp[i] += eps;
        xm[i] -= eps;
        let fd = (frozen_loss(&net, &sch, &grid, &xp, &cot[0])
            - frozen_loss(&net, &sch, &grid, &xm, &cot[0]))
            / (2.0 * eps);
        let err = (fd - grad.dx0[i]).abs() / grad.dx0[i].abs().max(1e-3);
        assert!(
            err < tol,
            "{name} dx0[{i}]: fd {fd} vs {} ({err:e})",
            grad.dx0[i]
        );
    }
    for p in 0..net.n_params() {
        let orig = net.params()[p];
        net.params_mut()[p] = orig + eps;
        let lp = frozen_loss(&net, &sch, &grid, &x0, &cot[0]);
        net.params_mut()[p] = orig - eps;
        let lm = frozen_loss(&net, &sch, &grid, &x0, &cot[0]);
        net.params_mut()[p] = orig;
        let fd = (lp - lm) / (2.0 * eps);
        let g = grad.dtheta[0][p];
        let err = (fd - g).abs() / g.abs().max(1e-3);
        assert!(err < tol, "{name} dθ[{p}]: fd {fd} vs {g} ({err:e})");
    }
}

#[test]
fn fixed_steps_match_central_differences() {
    for name in TABLEAUX {
        check(name, false);
    }
}

#[test]
fn adaptive_steps_match_central_differences_on_the_frozen_grid() {
    for name in ["bosh3", "dopri5", "dopri8", "fehlberg45"] {
        check(name, true);
    }
}
