//! The CNF log-density of `examples/cnf.rs` (FFJORD's sign convention): a zero network gives the
//! standard normal, a linear field gives its known density, Hutchinson's estimate is unbiased
//! for the exact trace, the same ε serves forward and backward, and a short training run lowers
//! the test NLL.

use crate::toy;
use symplode::codegen::ad::Trace;
use symplode::codegen::ir::{Activation, Graph};
use symplode::prelude::*;
use symplode::runtime::interp::cnf;
use symplode::runtime::optim::{Adam, AdamConfig, Optimizer};
use symplode::runtime::rng::Rng;

fn points(n: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| [rng.uniform_range(-3.0, 3.0), rng.uniform_range(-3.0, 3.0)])
        .collect()
}

fn log_normal(p: &[f64; 2]) -> f64 {
    -0.5 * (p[0] * p[0] + p[1] * p[1]) - toy::LOG_2PI
}

#[test]
fn zero_network_is_the_standard_normal() {
    let f = toy::ode_net(&[16, 16], Activation::Tanh);
    let zeros = vec![0.0f64; f.param_len()];
    let scheme = Scheme::<f64>::builtin("dopri5").unwrap();
    let stepping = Stepping::adaptive(1e-6, 1e-8);
    let pts = points(50, 1);
    let exact = cnf(&f, Trace::Exact, zeros.clone()).unwrap();
    let lp = toy::log_density(&exact, &scheme, &stepping, 0.5, &pts, 1000).unwrap();
    let mut hutch = cnf(&f, Trace::Hutchinson, zeros).unwrap();
    hutch
        .set_aux(1, &toy::noise::<f64>(pts.len(), false, &mut Rng::new(2)))
        .unwrap();
    let lh = toy::log_density(&hutch, &scheme, &stepping, 0.5, &pts, 1000).unwrap();
    for ((p, a), b) in pts.iter().zip(&lp).zip(&lh) {
        assert!(
            (a - log_normal(p)).abs() < 1e-14,
            "exact: {a} vs {}",
            log_normal(p)
        );
        assert!(
            (b - log_normal(p)).abs() < 1e-14,
            "hutchinson: {b} vs {}",
            log_normal(p)
        );
    }
}

/// One ConcatSquash layer with W = A, zero biases and hyper-weights: the gate is
/// sigmoid(0) = 1/2, so f(z, t) = A z / 2.
fn linear_field(a: [[f64; 2]; 2]) -> (Graph, Vec<f64>) {
    let f = toy::ode_net(&[], Activation::Identity);
    let mut p = vec![0.0; f.param_len()];
    // Layout: _layer.weight [2,2], _layer.bias [2], _hyper_bias.weight [2,1],
    // _hyper_gate.weight [2,1], _hyper_gate.bias [2].
    assert_eq!(f.params()[0].name, "layers.0._layer.weight");
    p[..4].copy_from_slice(&[a[0][0], a[0][1], a[1][0], a[1][1]]);
    (f, p)
}

#[test]
fn linear_field_has_its_known_density() {
    // A = [[α, −ω], [ω, α]]: z(T) = e^{αT/2} R(ωT/2) x and ∫ tr = α T.
    let (alpha, omega, t1) = (0.8, 1.3, 0.7);
    let (f, p) = linear_field([[alpha, -omega], [omega, alpha]]);
    let scheme = Scheme::<f64>::builtin("dopri5").unwrap();
    let stepping = Stepping::adaptive(1e-10, 1e-12);
    let pts = points(40, 3);
    let exact = cnf(&f, Trace::Exact, p).unwrap();
    let lp = toy::log_density(&exact, &scheme, &stepping, t1, &pts, 1000).unwrap();
    let (g, th) = ((alpha * t1 / 2.0).exp(), omega * t1 / 2.0);
    for (x, got) in pts.iter().zip(&lp) {
        let z = [
            g * (th.cos() * x[0] - th.sin() * x[1]),
            g * (th.sin() * x[0] + th.cos() * x[1]),
        ];
        let want = log_normal(&z) + alpha * t1;
        assert!((got - want).abs() < 1e-8, "log p {got} vs {want}");
    }
}

/// Loss of a CNF on `x0` (augmented) after a fixed-step solve.
fn loss(d: &dyn Dynamics<f64>, scheme: &Scheme<f64>, x0: &[f64]) -> f64 {
    let sol = solve(d, scheme, &Stepping::fixed(6), &[0.0, 0.5], x0).unwrap();
    let lp = toy::log_px(&sol.states[0]);
    -lp.iter().sum::<f64>() / lp.len() as f64
}

#[test]
fn hutchinson_is_unbiased_for_the_exact_trace() {
    // Fixed steps: the trajectory of z does not depend on ε, and the Hutchinson log-density is
    // linear in εεᵀ, so its mean over ε is the exact one (no step-size selection by ε).
    let f = toy::ode_net(&[16, 16], Activation::Tanh);
    let p = toy::init_params(&f, 7);
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let pts = toy::sample("moons", 32, &mut Rng::new(8)).unwrap();
    let x0 = toy::augment::<f64>(&pts);
    let exact = loss(&cnf(&f, Trace::Exact, p.clone()).unwrap(), &scheme, &x0);
    let mut hutch = cnf(&f, Trace::Hutchinson, p).unwrap();
    for rademacher in [false, true] {
        let mut rng = Rng::new(9);
        let draws: Vec<f64> = (0..300)
            .map(|_| {
                let eps = toy::noise::<f64>(pts.len(), rademacher, &mut rng);
                hutch.set_aux(1, &eps).unwrap();
                loss(&hutch, &scheme, &x0)
            })
            .collect();
        let n = draws.len() as f64;
        let mean = draws.iter().sum::<f64>() / n;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let se = (var / n).sqrt();
        assert!(var > 0.0, "the estimator is random");
        assert!(
            (mean - exact).abs() < 4.0 * se + 1e-12,
            "rademacher {rademacher}: mean {mean} ± {se} vs exact {exact}"
        );
    }
}

#[test]
fn one_noise_serves_forward_and_backward() {
    // With ε fixed by set_aux, every exact gradient method differentiates the same function:
    // the symplectic adjoint, ACA and checkpointing agree with backprop to rounding.
    let f = toy::ode_net(&[16, 16], Activation::Tanh);
    let p = toy::init_params(&f, 11);
    let scheme = Scheme::<f64>::builtin("dopri5").unwrap();
    let pts = toy::sample("8gaussians", 24, &mut Rng::new(12)).unwrap();
    let x0 = toy::augment::<f64>(&pts);
    let mut m = cnf(&f, Trace::Hutchinson, p).unwrap();
    m.set_aux(1, &toy::noise::<f64>(pts.len(), false, &mut Rng::new(13)))
        .unwrap();
    let problem = Problem::single(
        &m,
        &[0.0, 0.5],
        &scheme,
        Stepping::adaptive(1e-6, 1e-6),
        &x0,
    );
    let reference = Backprop
        .gradient(&problem, &mut toy::nll_loss::<f64>)
        .unwrap();
    let scale = reference.dtheta[0]
        .iter()
        .fold(0.0f64, |a, v| a.max(v.abs()));
    let methods: [&dyn GradientMethod<f64>; 3] =
        [&SymplecticAdjoint, &CheckpointStep, &CheckpointComponent];
    for method in methods {
        let g = method
            .gradient(&problem, &mut toy::nll_loss::<f64>)
            .unwrap();
        let dl = (g.loss - reference.loss).abs();
        assert!(
            dl <= 1e-12 * reference.loss.abs(),
            "{}: loss differs by {dl}",
            method.name()
        );
        let diff = g.dtheta[0]
            .iter()
            .zip(&reference.dtheta[0])
            .fold(0.0f64, |a, (x, y)| a.max((x - y).abs()));
        assert!(
            diff <= 1e-10 * scale,
            "{}: max |Δ| {diff} (scale {scale})",
            method.name()
        );
    }
}

#[test]
fn short_training_lowers_the_nll() {
    let f = toy::ode_net(&[16, 16], Activation::Tanh);
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let stepping = Stepping::fixed(4);
    let test = toy::sample("8gaussians", 400, &mut Rng::new(20)).unwrap();
    let mut model = cnf(&f, Trace::Hutchinson, toy::init_params(&f, 21)).unwrap();
    let mut exact = cnf(&f, Trace::Exact, model.params().to_vec()).unwrap();
    let nll = |e: &dyn Dynamics<f64>| {
        let lp = toy::log_density(e, &scheme, &stepping, 0.5, &test, 1000).unwrap();
        -lp.iter().sum::<f64>() / lp.len() as f64
    };
    let before = nll(&exact);
    let mut adam = Adam::new(AdamConfig {
        lr: 1e-2,
        ..AdamConfig::default()
    })
    .unwrap();
    for it in 0..40u64 {
        let mut rng = Rng::new(1000 + it);
        let pts = toy::sample("8gaussians", 64, &mut rng).unwrap();
        let x0 = toy::augment::<f64>(&pts);
        model
            .set_aux(1, &toy::noise::<f64>(pts.len(), false, &mut rng))
            .unwrap();
        let g = {
            let problem = Problem::single(&model, &[0.0, 0.5], &scheme, stepping.clone(), &x0);
            SymplecticAdjoint
                .gradient(&problem, &mut toy::nll_loss::<f64>)
                .unwrap()
        };
        Optimizer::<f64>::step(&mut adam, model.params_mut(), &g.dtheta[0]).unwrap();
    }
    exact.params_mut().copy_from_slice(model.params());
    let after = nll(&exact);
    assert!(after < before - 0.3, "test NLL {before} -> {after}");
}
