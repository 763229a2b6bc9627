//! Cross-checks the five gradient methods on an MLP neural ODE for every built-in tableau.
//!
//! State 2, input [x, t], hidden 64 tanh × 2, batch 256, t from 0 to 1, loss mean ‖x(1)‖².
//! Fixed steps (10 per unit time) for every tableau and adaptive steps (rtol = atol = 1e-6) for
//! the tableaux with an embedded error estimate. Prints, per tableau × method, the largest
//! relative difference to backprop over dx0 and every parameter tensor, NFE forward/backward,
//! steps, and the peak checkpoint and graph bytes the runtime counted. Exits non-zero when an
//! exact method (symplectic, ACA, checkpoint-component) is off by more than 1e-12.
//!
//! Run: `cargo run --release --example gradient_check`

use std::process::ExitCode;

use symplode::prelude::*;

const BATCH: usize = 256;
const TOLERANCE: f64 = 1e-12;

/// max |a − b| / max |b|; infinite when the lengths differ or a value is not finite (a NaN
/// gradient never reads as exact).
fn rel(a: &[f64], b: &[f64]) -> f64 {
    symplode::runtime::compare::max_rel_diff(a, b)
}

fn worst(net: &Mlp<f64>, a: &GradResult<f64>, b: &GradResult<f64>) -> f64 {
    let mut w = rel(&a.dx0, &b.dx0);
    for t in net.param_tensors() {
        w = w.max(rel(&a.dtheta[0][t.range()], &b.dtheta[0][t.range()]));
    }
    w
}

fn kib(bytes: usize) -> String {
    format!("{:.1}", bytes as f64 / 1024.0)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let config = MlpConfig {
        dim: 2,
        hidden: vec![64, 64],
        activation: Activation::Tanh,
        time_input: true,
    };
    let net = Mlp::<f64>::new(config, 2021)?;
    let mut rng = symplode::runtime::rng::Rng::new(7);
    let x0: Vec<f64> = (0..BATCH * 2)
        .map(|_| rng.uniform_range(-2.0, 2.0))
        .collect();
    let methods: Vec<Box<dyn GradientMethod<f64>>> = vec![
        Box::new(Backprop),
        Box::new(Adjoint::default()),
        Box::new(CheckpointComponent),
        Box::new(CheckpointStep),
        Box::new(SymplecticAdjoint),
        Box::new(SymplecticAdjointStored),
    ];
    println!(
        "MLP neural ODE: state 2, input [x, t], hidden 64 tanh x 2, batch {BATCH}, t in [0, 1], f64"
    );
    println!(
        "loss = mean over the batch of |x(1)|^2; rel = max |g - g_backprop| / max |g_backprop| per tensor\n"
    );
    println!(
        "| tableau | steps | method | rel. diff to backprop | NFE fwd | NFE bwd | VJP bwd | accepted/rejected | checkpoint KiB | graph KiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut ok = true;
    for name in BUILTIN_NAMES {
        let scheme = Scheme::<f64>::builtin(name)?;
        let mut steppings = vec![("fixed 10", Stepping::fixed(10))];
        if scheme.error_weights().is_some() {
            steppings.push(("rtol 1e-6", Stepping::adaptive(1e-6, 1e-6)));
        }
        for (label, stepping) in steppings {
            let problem = Problem::single(&net, &[0.0, 1.0], &scheme, stepping, &x0);
            let results = methods
                .iter()
                .map(|m| m.gradient(&problem, &mut losses::mean_sq_final(2)))
                .collect::<Result<Vec<_>, _>>()?;
            let reference = &results[0];
            for (m, r) in methods.iter().zip(&results) {
                let diff = worst(&net, r, reference);
                let exact = !matches!(m.name(), "adjoint" | "adjoint-seminorm" | "backprop");
                let flag = if exact && diff > TOLERANCE {
                    ok = false;
                    " FAIL"
                } else {
                    ""
                };
                let s = &r.stats;
                println!(
                    "| {name} | {label} | {} | {diff:.2e}{flag} | {} | {} | {} | {}/{} | {} | {} | {} |",
                    m.name(),
                    s.nfe_forward,
                    s.nfe_backward,
                    s.vjp_backward,
                    s.accepted,
                    s.rejected,
                    kib(s.peak_checkpoint_bytes),
                    kib(s.peak_graph_bytes),
                    kib(s.peak_total_bytes),
                );
            }
        }
    }
    if ok {
        println!("\nall exact methods within {TOLERANCE:e} of backprop");
    } else {
        println!("\nAN EXACT METHOD BROKE {TOLERANCE:e}");
    }
    Ok(ok)
}
