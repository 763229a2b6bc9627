//! The forward integrator: convergence orders, landing on output times, FSAL reuse, controllers.

use crate::common::*;
use symplode_runtime::models::ExpDecay;
use symplode_runtime::solver::solve;
use symplode_runtime::{Adaptive, Controller, Stepping};

/// Error at t = 8 of a fixed-step solve of a nonlinear MLP ODE against a fine dopri8 reference.
fn mlp_error(name: &str, steps: usize) -> f64 {
    let net = mlp::<f64>(2, 8, 33);
    let x0 = [0.7, -0.4, 0.1, 0.9];
    let times = [0.0, 8.0];
    let reference = solve(
        &net,
        &scheme::<f64>("dopri8"),
        &Stepping::fixed(2000),
        &times,
        &x0,
    )
    .expect("reference");
    let sol = solve(
        &net,
        &scheme::<f64>(name),
        &Stepping::fixed(steps),
        &times,
        &x0,
    )
    .expect("solve");
    rel(&sol.states[0], &reference.states[0])
}

#[test]
fn fixed_steps_converge_at_the_stated_order() {
    for (name, order, n) in [
        ("euler", 1, 32),
        ("midpoint", 2, 32),
        ("heun2", 2, 32),
        ("ralston2", 2, 32),
        ("rk4", 4, 16),
        ("rk38", 4, 16),
        ("bosh3", 3, 16),
        ("fehlberg45", 4, 128),
        ("cash_karp45", 5, 32),
        ("dopri5", 5, 32),
        ("tsit5", 5, 32),
        ("dopri8", 8, 8),
    ] {
        let (e1, e2) = (mlp_error(name, n), mlp_error(name, 2 * n));
        let observed = (e1 / e2).log2();
        assert!(
            (observed - order as f64).abs() < 0.4,
            "{name}: observed order {observed:.2}, expected {order} (errors {e1:e}, {e2:e})"
        );
    }
}

#[test]
fn adaptive_steps_land_on_every_output_time() {
    let sch = scheme::<f64>("dopri5");
    let model = ExpDecay::new(vec![3.0, 0.7]).expect("decay");
    let x0 = [1.0, 2.0];
    let times = [0.0, 0.1234, 0.5, 0.77, 2.0];
    let sol = solve(&model, &sch, &Stepping::adaptive(1e-8, 1e-10), &times, &x0).expect("solve");
    for (k, &n) in sol.grid.output_at.iter().enumerate() {
        assert_eq!(
            sol.grid.t[n],
            times[k + 1],
            "output {k} is not a step end point"
        );
        let exact = model.exact_state(0.0, times[k + 1], &x0);
        assert!(rel(&sol.states[k], &exact) < 1e-7, "output {k}");
    }
    // FSAL: one initial evaluation, one probe for the initial step, then 6 per trial step.
    let c = sol.counters;
    assert_eq!(c.nfe, 2 + 6 * (c.accepted + c.rejected));
}

#[test]
fn fsal_reuse_in_fixed_steps() {
    let model = ExpDecay::new(vec![1.0]).expect("decay");
    let dopri5 = scheme::<f64>("dopri5");
    let rk4 = scheme::<f64>("rk4");
    let sol = solve(&model, &dopri5, &Stepping::fixed(10), &[0.0, 1.0], &[1.0]).expect("solve");
    assert_eq!(sol.counters.nfe, 1 + 6 * 10);
    let sol = solve(&model, &rk4, &Stepping::fixed(10), &[0.0, 0.5, 1.0], &[1.0]).expect("solve");
    assert_eq!(sol.counters.nfe, 4 * 20);
    assert_eq!(sol.grid.steps(), 20);
}

#[test]
fn pi_controller_and_step_limits() {
    let sch = scheme::<f64>("dopri5");
    let model = ExpDecay::new(vec![5.0, 0.1]).expect("decay");
    let x0 = [1.0, 1.0];
    let mut pi = Adaptive::tol(1e-8, 1e-10);
    pi.controller = Controller::Pi {
        beta1: 0.7,
        beta2: 0.4,
    };
    let sol = solve(&model, &sch, &Stepping::Adaptive(pi), &[0.0, 3.0], &x0).expect("solve");
    assert!(rel(&sol.states[0], &model.exact_state(0.0, 3.0, &x0)) < 1e-7);
    let mut capped = Adaptive::tol(1e-3, 1e-3);
    capped.max_step = 0.05;
    let sol = solve(&model, &sch, &Stepping::Adaptive(capped), &[0.0, 1.0], &x0).expect("solve");
    assert!(sol.grid.t.windows(2).all(|w| w[1] - w[0] <= 0.05 + 1e-15));
    assert!(sol.grid.steps() >= 20);
}
