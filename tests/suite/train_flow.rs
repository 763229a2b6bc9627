//! The flow objective of `symplode train` (`symplode::train::flow`): the gradient of the NLL of
//! a Hutchinson flow with its noise in the state, as the trainer's loss computes it, against
//! central differences of the same discrete objective (fixed rk4 steps, the same ε); and the
//! Hutchinson estimate averaging to the exact trace's NLL.

#![cfg(feature = "model-files")]

use symplode::prelude::*;
use symplode::runtime::grad::Outputs;
use symplode::runtime::rng::Rng;
use symplode::train::flow::{FlowSamples, FlowTrace, Noise};
use symplode::train::{Batch, FlowSpec, Loss};

const FLOW: &str = "form = \"cnf\"\ndim = 2\ntime_length = 0.5\n[[layers]]\nout = 6\n\
                    activation = \"tanh\"\n[[layers]]\nout = 2\n";

fn loss_of(m: &dyn Dynamics<f64>, b: &Batch<f64>, scheme: &Scheme<f64>) -> f64 {
    let sol = solve(m, scheme, &Stepping::fixed(3), &b.times, &b.x0).unwrap();
    let rows = b.x0.len() / m.dim();
    let mut cot = sol.states.clone();
    Loss::Nll { dim: 2 }.evaluate_rows(&sol.states, &[], &mut cot, rows, m.dim())
}

#[test]
fn nll_gradient_matches_central_differences() {
    let spec = FlowSpec::parse(FLOW, "flow.toml").unwrap();
    let params = spec.init_params(4).unwrap();
    let trace = FlowTrace::Hutchinson(Noise::Gaussian);
    let mut m = spec.build::<f64>(trace, &params).unwrap();
    let mut rng = Rng::new(9);
    let rows: Vec<f64> = (0..10).map(|_| 1.5 * rng.normal()).collect();
    let b = FlowSamples::states::<f64>(&rows, 2, trace, 0.5, &mut rng);
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let problem = Problem::single(&m, &b.times, &scheme, Stepping::fixed(3), &b.x0);
    let mut loss = |out: &Outputs<f64>, cot: &mut Outputs<f64>| {
        Loss::Nll { dim: 2 }.evaluate_rows(&out[0], &[], &mut cot[0], 5, 5)
    };
    let g = SymplecticAdjoint.gradient(&problem, &mut loss).unwrap();
    let l0 = loss_of(&m, &b, &scheme);
    assert!((g.loss - l0).abs() < 1e-12 * l0.abs(), "{} vs {l0}", g.loss);
    let dir: Vec<f64> = (0..params.len()).map(|_| rng.normal()).collect();
    let analytic: f64 = g.dtheta[0].iter().zip(&dir).map(|(a, b)| a * b).sum();
    let h = 1e-5;
    let mut at = |s: f64| {
        for ((p, p0), d) in m.params_mut().iter_mut().zip(&params).zip(&dir) {
            *p = p0 + s * d;
        }
        loss_of(&m, &b, &scheme)
    };
    let numeric = (at(h) - at(-h)) / (2.0 * h);
    assert!(
        (analytic - numeric).abs() < 1e-7 * (1.0 + numeric.abs()),
        "{analytic} vs {numeric}"
    );
    assert!(analytic.abs() > 1e-3, "a non-trivial direction: {analytic}");
}

/// Hutchinson's NLL averaged over many noise draws approaches the exact trace's NLL.
#[test]
fn hutchinson_nll_averages_to_the_exact_nll() {
    let spec = FlowSpec::parse(FLOW, "flow.toml").unwrap();
    let params = spec.init_params(1).unwrap();
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let mut rng = Rng::new(3);
    let rows: Vec<f64> = (0..4).map(|_| rng.normal()).collect();
    let exact_m = spec.build::<f64>(FlowTrace::Exact, &params).unwrap();
    let exact = loss_of(
        &exact_m,
        &FlowSamples::states(&rows, 2, FlowTrace::Exact, 0.5, &mut rng),
        &scheme,
    );
    let trace = FlowTrace::Hutchinson(Noise::Rademacher);
    let hut_m = spec.build::<f64>(trace, &params).unwrap();
    // 2000 copies of the two samples, each with its own ε.
    let many: Vec<f64> = rows.iter().copied().cycle().take(4 * 2000).collect();
    let b = FlowSamples::states(&many, 2, trace, 0.5, &mut rng);
    let hut = loss_of(&hut_m, &b, &scheme);
    assert!((hut - exact).abs() < 0.01, "{hut} vs {exact}");
    // A single draw differs (the estimator is noisy): the test would notice a constant ε.
    assert_ne!(hut, exact);
}
