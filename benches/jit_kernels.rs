//! JIT vs interpreter: compile latency of a tableau's kernels, the step kernels alone, and
//! step / solve / gradient throughput on the [x, t] → 64 tanh → 64 tanh → 2 MLP at batch 256
//! and 4096, for rk4, dopri5 and dopri8 (f64); and the network JIT (`JitNetwork`: generated
//! functions calling the GEMM through a function pointer) against the interpreter and the
//! hand-written `Mlp` on a 10-step dopri5 symplectic-adjoint gradient. Plain
//! `harness = false` timing, best of N.
//!
//! Last, the three executions of one spec side by side: the interpreter (`Interpreted` +
//! interpreted scheme), the JIT (`JitNetwork` + `jit_scheme`) and the `neural_ode!` macro, on
//! a 10-step symplectic-adjoint gradient for rk4, dopri5 and dopri8 at batch 256 and 4096.
//!
//! `RAYON_NUM_THREADS=1 cargo bench --bench jit_kernels` (results in docs/jit.md).

use std::hint::black_box;
use std::time::{Duration, Instant};

use symplode_codegen::ir::Graph;
use symplode_codegen::jit::{JitOptions, JitTableau};
use symplode_codegen::tableau::builtin;
use symplode_runtime::grad::{Problem, losses};
use symplode_runtime::interp::Interpreted;
use symplode_runtime::jit::{JitNetwork, NetworkMode, jit_scheme};
use symplode_runtime::models::{Activation, Mlp, MlpConfig};
use symplode_runtime::rng::Rng;
use symplode_runtime::solver::solve;
use symplode_runtime::{Dynamics, GradientMethod, Scheme, Stepping, SymplecticAdjoint};

const TABLEAUX: [&str; 3] = ["rk4", "dopri5", "dopri8"];

symplode::neural_ode! {
    /// The benchmark MLP with rk4 kernels generated at compile time.
    struct MacroRk4 {
        float: f64, dim: 2, time: true,
        layers: [dense(64, tanh), dense(64, tanh), dense(2)],
        tableau: rk4, solver: { steps: 10 },
    }
}
symplode::neural_ode! {
    /// The benchmark MLP with dopri5 kernels generated at compile time.
    struct MacroDopri5 {
        float: f64, dim: 2, time: true,
        layers: [dense(64, tanh), dense(64, tanh), dense(2)],
        tableau: dopri5, solver: { steps: 10 },
    }
}
symplode::neural_ode! {
    /// The benchmark MLP with dopri8 kernels generated at compile time.
    struct MacroDopri8 {
        float: f64, dim: 2, time: true,
        layers: [dense(64, tanh), dense(64, tanh), dense(2)],
        tableau: dopri8, solver: { steps: 10 },
    }
}

/// The macro model and its scheme for a tableau name.
fn macro_model(name: &str) -> (Box<dyn Dynamics<f64>>, Scheme<f64>) {
    match name {
        "rk4" => (Box::new(MacroRk4::new(7)), MacroRk4::scheme().unwrap()),
        "dopri5" => (
            Box::new(MacroDopri5::new(7)),
            MacroDopri5::scheme().unwrap(),
        ),
        _ => (
            Box::new(MacroDopri8::new(7)),
            MacroDopri8::scheme().unwrap(),
        ),
    }
}

/// Best wall time of `reps` runs of `f` (after one warm-up).
fn best(reps: usize, mut f: impl FnMut()) -> Duration {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn state(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.uniform_range(-1.0, 1.0)).collect()
}

/// One step's kernel work: stage inputs, update, error estimate, adjoint cotangents.
fn step_kernels(s: &Scheme<f64>, x: &[f64], k: &[Vec<f64>], out: &mut [f64]) {
    let h = 0.01;
    for i in 1..s.stages() {
        s.stage_input(i, h, x, k, out);
    }
    s.update(s.stages(), h, x, k, out);
    s.error_estimate(h, k, out);
    for i in 0..s.effective_stages() {
        s.adjoint_cotangent(i, h, x, k, out);
    }
    black_box(&out);
}

fn main() {
    println!("## Compile latency (f64, opt_level speed, verifier off; best of 7)\n");
    println!(
        "validate = exact order re-check + partner proof; without order re-check = `check_order: false`.\n"
    );
    println!(
        "| tableau | functions | code bytes | validate ms | validate ms without order re-check | codegen ms |"
    );
    println!("|---|---|---|---|---|---|");
    for name in TABLEAUX {
        let t = builtin(name).unwrap();
        let mut last = None;
        let mut validate = Duration::MAX;
        let mut codegen = Duration::MAX;
        for _ in 0..7 {
            let j = JitTableau::<f64>::compile(&t, &JitOptions::default()).unwrap();
            validate = validate.min(j.validate_time());
            codegen = codegen.min(j.report().compile_time);
            last = Some(j);
        }
        let j = last.unwrap();
        let quick = JitOptions {
            check_order: false,
            ..JitOptions::default()
        };
        let partner_only = (0..7)
            .map(|_| {
                JitTableau::<f64>::compile(&t, &quick)
                    .unwrap()
                    .validate_time()
            })
            .min()
            .unwrap();
        println!(
            "| {name} | {} | {} | {:.2} | {:.2} | {:.2} |",
            j.report().functions.len(),
            j.report().code_bytes(),
            ms(validate),
            ms(partner_only),
            ms(codegen)
        );
    }

    println!("\n## Step kernels alone (one step: stage inputs, update, error, adjoint; µs)\n");
    println!("| tableau | batch | interpreted | JIT | speed-up |");
    println!("|---|---|---|---|---|");
    for name in TABLEAUX {
        let t = builtin(name).unwrap();
        let plain = Scheme::<f64>::new(&t).unwrap();
        let (jit, _) = jit_scheme::<f64>(&t, &JitOptions::default()).unwrap();
        for batch in [256usize, 4096] {
            let n = batch * 2;
            let x = state(n, 1);
            let k: Vec<Vec<f64>> = (0..plain.stages())
                .map(|j| state(n, 2 + j as u64))
                .collect();
            let mut out = vec![0.0; n];
            let reps = 200;
            let a = best(15, || {
                for _ in 0..reps {
                    step_kernels(&plain, &x, &k, &mut out)
                }
            }) / reps;
            let b = best(15, || {
                for _ in 0..reps {
                    step_kernels(&jit, &x, &k, &mut out)
                }
            }) / reps;
            println!(
                "| {name} | {batch} | {:.2} | {:.2} | {:.2}x |",
                a.as_secs_f64() * 1e6,
                b.as_secs_f64() * 1e6,
                a.as_secs_f64() / b.as_secs_f64()
            );
        }
    }

    println!(
        "\n## MLP [x, t] → 64 tanh → 64 tanh → 2 (ms; 1 step, 10-step solve, 10-step symplectic-adjoint gradient)\n"
    );
    println!(
        "| tableau | batch | step interp | step JIT | ratio | solve interp | solve JIT | ratio | grad interp | grad JIT | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let net = Mlp::<f64>::new(
        MlpConfig {
            dim: 2,
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            time_input: true,
        },
        7,
    )
    .unwrap();
    for name in TABLEAUX {
        let t = builtin(name).unwrap();
        let plain = Scheme::<f64>::new(&t).unwrap();
        let (jit, _) = jit_scheme::<f64>(&t, &JitOptions::default()).unwrap();
        for batch in [256usize, 4096] {
            let x0 = state(batch * 2, 3);
            let reps = if batch > 1000 { 3 } else { 7 };
            let run_solve = |s: &Scheme<f64>, steps: usize| {
                black_box(solve(&net, s, &Stepping::fixed(steps), &[0.0, 0.5], &x0).unwrap());
            };
            let run_grad = |s: &Scheme<f64>| {
                let p = Problem::single(&net, &[0.0, 0.5], s, Stepping::fixed(10), &x0);
                black_box(
                    SymplecticAdjoint
                        .gradient(&p, &mut losses::mean_sq_final(2))
                        .unwrap(),
                );
            };
            let mut row = format!("| {name} | {batch} |");
            for (a, b) in [
                (
                    best(reps, || run_solve(&plain, 1)),
                    best(reps, || run_solve(&jit, 1)),
                ),
                (
                    best(reps, || run_solve(&plain, 10)),
                    best(reps, || run_solve(&jit, 10)),
                ),
                (
                    best(reps, || run_grad(&plain)),
                    best(reps, || run_grad(&jit)),
                ),
            ] {
                row += &format!(
                    " {:.3} | {:.3} | {:.3}x |",
                    ms(a),
                    ms(b),
                    a.as_secs_f64() / b.as_secs_f64()
                );
            }
            println!("{row}");
        }
    }

    println!(
        "\n## Network JIT: MLP [x, t] → 64 tanh → 64 tanh → 2, 10-step dopri5 symplectic-adjoint gradient (ms)\n"
    );
    println!("| batch | interpreted | JIT chains | ratio | JIT GEMM path | ratio | Mlp | ratio |");
    println!("|---|---|---|---|---|---|---|---|");
    let g = Graph::mlp(2, &[64, 64], symplode_codegen::ir::Activation::Tanh, true).unwrap();
    let interp = Interpreted::<f64>::new(g.clone(), net.params().to_vec()).unwrap();
    let chains =
        JitNetwork::with_mode(interp.clone(), &JitOptions::default(), NetworkMode::Chains).unwrap();
    let segs = JitNetwork::new(interp.clone(), &JitOptions::default()).unwrap();
    let plain = Scheme::<f64>::new(&builtin("dopri5").unwrap()).unwrap();
    for batch in [256usize, 4096] {
        let x0 = state(batch * 2, 3);
        let reps = if batch > 1000 { 3 } else { 7 };
        let grad = |f: &dyn Dynamics<f64>| {
            best(reps, || {
                let p = Problem::single(f, &[0.0, 0.5], &plain, Stepping::fixed(10), &x0);
                black_box(
                    SymplecticAdjoint
                        .gradient(&p, &mut losses::mean_sq_final(2))
                        .unwrap(),
                );
            })
        };
        let (a, c, s, m) = (grad(&interp), grad(&chains), grad(&segs), grad(&net));
        println!(
            "| {batch} | {:.3} | {:.3} | {:.2}x | {:.3} | {:.2}x | {:.3} | {:.2}x |",
            ms(a),
            ms(c),
            a.as_secs_f64() / c.as_secs_f64(),
            ms(s),
            a.as_secs_f64() / s.as_secs_f64(),
            ms(m),
            a.as_secs_f64() / m.as_secs_f64()
        );
    }

    println!(
        "\n## Interpreter vs JIT vs macro: 10-step symplectic-adjoint gradient (ms, ratio to the macro)\n"
    );
    println!("| tableau | batch | interpreter | ratio | JIT (network + kernels) | ratio | macro |");
    println!("|---|---|---|---|---|---|---|");
    for name in TABLEAUX {
        let t = builtin(name).unwrap();
        let plain = Scheme::<f64>::new(&t).unwrap();
        let (jit_kernels, _) = jit_scheme::<f64>(&t, &JitOptions::default()).unwrap();
        let (mac, mac_scheme) = macro_model(name);
        let interp = Interpreted::<f64>::new(g.clone(), mac.params().to_vec()).unwrap();
        let jit_net = JitNetwork::new(interp.clone(), &JitOptions::default()).unwrap();
        for batch in [256usize, 4096] {
            let x0 = state(batch * 2, 3);
            let reps = if batch > 1000 { 3 } else { 7 };
            let grad = |f: &dyn Dynamics<f64>, sch: &Scheme<f64>| {
                best(reps, || {
                    let p = Problem::single(f, &[0.0, 0.5], sch, Stepping::fixed(10), &x0);
                    black_box(
                        SymplecticAdjoint
                            .gradient(&p, &mut losses::mean_sq_final(2))
                            .unwrap(),
                    );
                })
            };
            let i = grad(&interp, &plain);
            let j = grad(&jit_net, &jit_kernels);
            let m = grad(&*mac, &mac_scheme);
            println!(
                "| {name} | {batch} | {:.3} | {:.2}x | {:.3} | {:.2}x | {:.3} |",
                ms(i),
                i.as_secs_f64() / m.as_secs_f64(),
                ms(j),
                j.as_secs_f64() / m.as_secs_f64(),
                ms(m)
            );
        }
    }
}
