//! Algebraically reversible Runge–Kutta: the reconstructing backward sweep against
//! backpropagation through the same scheme (every pair kept), both against central
//! differences of the scheme, for every built-in tableau, fixed and adaptive, one and two
//! components; memory independent of N, prediction equal to the count, the start's
//! reconstruction error reported.

use crate::common::*;
use symplode_runtime::grad::{
    Component, GradientMethod, Problem, ProblemSizes, Reversible, ReversibleBackprop,
};
use symplode_runtime::{Dynamics, Stepping};

fn single<'a>(
    net: &'a symplode_runtime::models::Mlp<f64>,
    sch: &'a symplode_runtime::Scheme<f64>,
    t1: f64,
    stepping: Stepping,
    x0: &'a [f64],
) -> Problem<'a, f64> {
    Problem::single(net, &[0.0, 0.4 * t1, t1], sch, stepping, x0)
}

fn check_predicted(
    m: &dyn GradientMethod<f64>,
    problem: &Problem<'_, f64>,
    r: &symplode_runtime::grad::GradResult<f64>,
) {
    let steps: Vec<usize> = r.grids.iter().map(|g| g.steps()).collect();
    let p = m.predict(&ProblemSizes::of(problem, &steps));
    let s = &r.stats;
    assert_eq!(
        (p.checkpoint_bytes, p.graph_bytes, p.workspace_bytes),
        (
            s.peak_checkpoint_bytes,
            s.peak_graph_bytes,
            s.peak_workspace_bytes
        ),
        "{}",
        m.name()
    );
}

#[test]
fn reconstruction_equals_backprop_through_the_scheme_for_every_tableau() {
    let x0 = random_state::<f64>(2 * 3, 4);
    let net = mlp::<f64>(2, 8, 5);
    for name in TABLEAUX {
        let sch = scheme::<f64>(name);
        let problem = single(&net, &sch, 1.0, Stepping::fixed(10), &x0);
        let cot = random_cotangents(&problem, 6);
        for lambda in [0.5, 0.999, 1.0] {
            let rev = Reversible { lambda };
            let bp = ReversibleBackprop { lambda };
            let a = run(&rev, &problem, &cot);
            let b = run(&bp, &problem, &cot);
            assert_eq!(a.outputs, b.outputs, "{name}");
            // Rounding in the reconstruction grows like λ⁻ᴺ (N = 20 steps here).
            let tol = 1e-13 * lambda.powi(-20);
            let err = worst_rel(&problem, &a, &b);
            assert!(err <= tol, "{name} λ={lambda}: {err:e}");
            assert!(a.stats.x0_reconstruction_error <= tol, "{name}");
            assert_eq!(b.stats.x0_reconstruction_error, 0.0);
            check_predicted(&rev, &problem, &a);
            check_predicted(&bp, &problem, &b);
        }
    }
}

#[test]
fn adaptive_and_chained() {
    let x0 = random_state::<f64>(2 * 3, 7);
    let nets = [mlp::<f64>(2, 8, 1), mlp::<f64>(2, 8, 2)];
    for name in ADAPTIVE {
        let sch = scheme::<f64>(name);
        let problem = Problem {
            chain: nets
                .iter()
                .enumerate()
                .map(|(m, n)| Component {
                    dynamics: dyn_ref(n),
                    times: vec![m as f64, m as f64 + 0.3, m as f64 + 1.0],
                })
                .collect(),
            scheme: &sch,
            stepping: Stepping::adaptive(1e-6, 1e-8),
            x0: &x0,
        };
        let cot = random_cotangents(&problem, 3);
        let rev = Reversible { lambda: 0.99 };
        let bp = ReversibleBackprop { lambda: 0.99 };
        let a = run(&rev, &problem, &cot);
        let b = run(&bp, &problem, &cot);
        assert_eq!(a.grids, b.grids);
        assert!(a.stats.accepted > 4, "{name}: {}", a.stats.accepted);
        let err = worst_rel(&problem, &a, &b);
        assert!(err <= 1e-10, "{name}: {err:e}");
        check_predicted(&rev, &problem, &a);
        check_predicted(&bp, &problem, &b);
    }
}

/// L(x0, θ) = Σ cot·y(t_k) of the reversible scheme, by its forward pass alone.
fn loss_of(
    net: &symplode_runtime::models::Mlp<f64>,
    sch: &symplode_runtime::Scheme<f64>,
    x0: &[f64],
    cot: &symplode_runtime::grad::Outputs<f64>,
    lambda: f64,
) -> f64 {
    let problem = single(net, sch, 1.0, Stepping::fixed(6), x0);
    let pass = GradientMethod::<f64>::forward(&Reversible { lambda }, &problem).expect("forward");
    let mut l = 0.0;
    for (o, c) in pass.outputs().iter().zip(cot) {
        for (a, b) in o.iter().zip(c.iter()) {
            l += a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        }
    }
    l
}

#[test]
fn central_differences_of_the_scheme() {
    let x0 = random_state::<f64>(2 * 2, 8);
    let mut net = mlp::<f64>(2, 6, 9);
    for name in ["rk4", "tsit5", "bosh3"] {
        let sch = scheme::<f64>(name);
        let lambda = 0.8;
        let problem = single(&net, &sch, 1.0, Stepping::fixed(6), &x0);
        let cot = random_cotangents(&problem, 10);
        let g = run(&Reversible { lambda }, &problem, &cot);
        drop(problem);
        let eps = 1e-6;
        for i in 0..x0.len() {
            let (mut p, mut m) = (x0.clone(), x0.clone());
            p[i] += eps;
            m[i] -= eps;
            let fd = (loss_of(&net, &sch, &p, &cot, lambda)
                - loss_of(&net, &sch, &m, &cot, lambda))
                / (2.0 * eps);
            assert!(
                (fd - g.dx0[i]).abs() <= 1e-7 * (1.0 + fd.abs()),
                "{name} x0[{i}]: {fd} vs {}",
                g.dx0[i]
            );
        }
        for j in (0..net.n_params()).step_by(7) {
            let v = net.params()[j];
            net.params_mut()[j] = v + eps;
            let lp = loss_of(&net, &sch, &x0, &cot, lambda);
            net.params_mut()[j] = v - eps;
            let lm = loss_of(&net, &sch, &x0, &cot, lambda);
            net.params_mut()[j] = v;
            let fd = (lp - lm) / (2.0 * eps);
            let an = g.dtheta[0][j];
            assert!(
                (fd - an).abs() <= 1e-7 * (1.0 + fd.abs()),
                "{name} θ[{j}]: {fd} vs {an}"
            );
        }
    }
}

/// The difference to backprop through the scheme as N grows (printed: the report's table),
/// ≤ 1e-10 up to N = 1000; memory at N = 10,000 within 5% of N = 100.
#[test]
fn growth_with_n_and_constant_memory() {
    let x0 = random_state::<f64>(2 * 4, 11);
    let net = mlp::<f64>(2, 16, 12);
    let sch = scheme::<f64>("tsit5");
    let lambda = 0.999;
    for n in [10usize, 100, 1000] {
        let problem = Problem::single(&net, &[0.0, n as f64 * 0.01], &sch, Stepping::fixed(n), &x0);
        let cot = random_cotangents(&problem, 13);
        let a = run(&Reversible { lambda }, &problem, &cot);
        let b = run(&ReversibleBackprop { lambda }, &problem, &cot);
        let err = worst_rel(&problem, &a, &b);
        println!(
            "N = {n:5}: rel. difference to backprop {err:.2e}, x0 reconstruction error {:.2e}",
            a.stats.x0_reconstruction_error
        );
        assert!(err <= 1e-10, "N = {n}: {err:e}");
    }
    let peak = |n: usize| {
        let problem = Problem::single(&net, &[0.0, n as f64 * 0.01], &sch, Stepping::fixed(n), &x0);
        let cot = random_cotangents(&problem, 13);
        let m = Reversible { lambda };
        let r = run(&m, &problem, &cot);
        check_predicted(&m, &problem, &r);
        r.stats.peak_total_bytes
    };
    let (small, large) = (peak(100), peak(10_000));
    assert!(large as f64 <= 1.05 * small as f64, "{small} → {large}");
}

#[test]
fn lambda_out_of_range_is_refused() {
    let x0 = random_state::<f64>(2, 1);
    let net = mlp::<f64>(2, 4, 1);
    let sch = scheme::<f64>("rk4");
    let problem = single(&net, &sch, 1.0, Stepping::fixed(3), &x0);
    for lambda in [0.0, -0.5, 1.5, f64::NAN] {
        let e = GradientMethod::<f64>::forward(&Reversible { lambda }, &problem)
            .err()
            .expect("refused");
        assert!(e.to_string().contains("lambda"), "{e}");
    }
}
