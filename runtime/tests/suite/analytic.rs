//! Gradients of the test models with closed-form solutions against their closed forms, and
//! the adjoint method's convergence as the tolerance shrinks.

use crate::common::*;
use symplode_runtime::grad::Problem;
use symplode_runtime::models::{ExpDecay, HarmonicOscillator, LinearOde};
use symplode_runtime::{Adjoint, Dynamics, Stepping};

fn check_closed_form<D: Dynamics<f64>>(
    label: &str,
    model: &D,
    exact: impl Fn(&[f64], &[f64]) -> (Vec<f64>, Vec<f64>),
    x0: &[f64],
) {
    let sch = scheme::<f64>("rk4");
    let times = [0.0, 1.3];
    let problem = Problem::single(model, &times, &sch, Stepping::fixed(400), x0);
    let cot = random_cotangents(&problem, 4);
    let (gx, gp) = exact(x0, &cot[0][0]);
    for method in all_methods::<f64>() {
        let r = run(method.as_ref(), &problem, &cot);
        let ex = rel(&r.dx0, &gx);
        let ep = rel(&r.dtheta[0], &gp);
        assert!(
            ex < 1e-9 && ep < 1e-9,
            "{label} {}: dx0 {ex:e}, dθ {ep:e}",
            method.name()
        );
    }
}

#[test]
fn closed_form_sensitivities() {
    let x0 = random_state::<f64>(3 * 4, 8);
    let decay = ExpDecay::new(vec![0.5, 1.5, -0.3]).expect("decay");
    check_closed_form(
        "decay",
        &decay,
        |x, c| decay.exact_gradient(0.0, 1.3, x, c),
        &x0,
    );
    let x0 = random_state::<f64>(2 * 4, 9);
    let osc = HarmonicOscillator::new(1.7).expect("oscillator");
    check_closed_form(
        "oscillator",
        &osc,
        |x, c| osc.exact_gradient(0.0, 1.3, x, c),
        &x0,
    );
    let x0 = random_state::<f64>(3 * 4, 10);
    let a = random_state::<f64>(9, 11);
    let lin = LinearOde::from_params(3, a).expect("linear");
    check_closed_form(
        "linear",
        &lin,
        |x, c| lin.exact_gradient(0.0, 1.3, x, c),
        &x0,
    );
}

#[test]
fn adjoint_converges_as_tolerance_shrinks() {
    let sch = scheme::<f64>("dopri5");
    let net = mlp::<f64>(2, 8, 3);
    let x0 = random_state::<f64>(2 * 4, 6);
    let times = [0.0, 1.0];
    let mut prev = f64::INFINITY;
    for tol in [1e-4, 1e-6, 1e-8, 1e-10] {
        let problem = Problem::single(&net, &times, &sch, Stepping::adaptive(tol, tol), &x0);
        let cot = random_cotangents(&problem, 2);
        let exact = run(&symplode_runtime::SymplecticAdjoint, &problem, &cot);
        let adj = run(&Adjoint::default(), &problem, &cot);
        let semi = run(
            &Adjoint {
                seminorm: true,
                backward: None,
            },
            &problem,
            &cot,
        );
        let err = worst_rel(&problem, &adj, &exact);
        let err_semi = worst_rel(&problem, &semi, &exact);
        assert!(
            err < prev,
            "tol {tol:e}: adjoint error {err:e} did not shrink from {prev:e}"
        );
        assert!(err < 100.0 * tol, "tol {tol:e}: adjoint error {err:e}");
        assert!(
            err_semi < 100.0 * tol,
            "tol {tol:e}: seminorm adjoint error {err_semi:e}"
        );
        assert!(semi.stats.backward_accepted <= adj.stats.backward_accepted);
        prev = err;
    }
}
