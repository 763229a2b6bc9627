//! The speed workload of the benchmarks: exact gradients of an MLP neural ODE, single-threaded,
//! the symplectic adjoint (stages recomputed, as in the paper, and stored from the forward pass)
//! against backprop through the solver, as ratios measured in one run.
//!
//! Workload: state 2, input [x, t], hidden 64 tanh → 64 tanh → 2 with biases, batch 256,
//! t ∈ [0, 1], f64, loss = mean over the batch of ‖x(1)‖²; rk4 with N = 100 and 1000 fixed
//! steps, dopri5 with N = 100 fixed steps and adaptive with rtol = atol = 1e-6; plus a small case
//! (batch 16, hidden 32, rk4 N = 100) and a large one (batch 4096, hidden 256, rk4 N = 10).
//! Then: scaling on 2 threads at batch 1024 and 4096 (fixed chunks, so gradients are
//! bit-identical), GEMM throughput at 4096 × 256 × 256 against this core's measured FMA peak, and
//! the time to the first gradient in a fresh model.
//!
//! Run: `cargo run --release --example speed` (about a minute; `-- --quick` for fewer repeats;
//! `-- --f32` for the case table in f64 and f32 and the f32 speed-up instead of the rest;
//! `-- --peak-rss symplectic|stored|backprop` for one gradient of the batch-4096 case in this
//! fresh process, printing its resident set before and at its peak as the PyTorch peers'
//! `bench/peers/peak_memory.py` measures them, Linux only).

use std::time::Instant;

use symplode::prelude::*;
use symplode::runtime::linalg::matmul::{MatMut, MatRef, matmul};
use symplode::runtime::parallel::Chunked;

#[path = "common/peak.rs"]
mod peak;
use peak::fma_peak;

struct Case {
    label: &'static str,
    batch: usize,
    hidden: usize,
    tableau: &'static str,
    stepping: Stepping,
}

fn net<T: Real>(hidden: usize) -> Mlp<T> {
    Mlp::new(
        MlpConfig {
            dim: 2,
            hidden: vec![hidden, hidden],
            activation: Activation::Tanh,
            time_input: true,
        },
        2021,
    )
    .expect("valid config")
}

fn x0<T: Real>(batch: usize) -> Vec<T> {
    let mut rng = symplode::runtime::rng::Rng::new(7);
    (0..batch * 2)
        .map(|_| T::of(rng.uniform_range(-2.0, 2.0)))
        .collect()
}

/// Median wall seconds of `reps` gradients, and the last result's stats.
fn time_gradient<T: Real>(
    method: &dyn GradientMethod<T>,
    problem: &Problem<'_, T>,
    reps: usize,
) -> (f64, Stats) {
    let mut times = Vec::with_capacity(reps);
    let mut stats = Stats::default();
    for _ in 0..reps {
        let start = Instant::now();
        let r = method
            .gradient(problem, &mut losses::mean_sq_final(2))
            .expect("gradient");
        times.push(start.elapsed().as_secs_f64());
        stats = r.stats;
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], stats)
}

fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// Best GFLOP/s of `C = A·B` (`A` m × k, stored transposed when `a_t`: the weight gradient
/// `δᵀ·H` reads δ [k, m] that way) over 20 calls.
fn gemm_gflops(m: usize, k: usize, n: usize, a_t: bool) -> f64 {
    let a = vec![0.5f64; m * k];
    let b = vec![0.25f64; k * n];
    let mut c = vec![0.0f64; m * n];
    let mut best = 0.0f64;
    for _ in 0..20 {
        let av = if a_t {
            MatRef::row_major(&a, k, m).t()
        } else {
            MatRef::row_major(&a, m, k)
        };
        let start = Instant::now();
        matmul(
            MatMut::row_major(&mut c, m, n),
            av,
            MatRef::row_major(&b, k, n),
            false,
        );
        best = best.max(2.0 * (m * k * n) as f64 / start.elapsed().as_secs_f64() / 1e9);
    }
    best
}

/// Seconds to the first gradient when the tableau kernels and the network are JIT-compiled
/// first (the same workload as the plain first gradient), if the `jit` feature is on.
#[cfg(feature = "jit")]
fn first_gradient_jit() -> Option<f64> {
    use symplode::codegen::ir::{Activation as IrActivation, Graph};
    use symplode::runtime::interp::Interpreted;
    use symplode::runtime::jit::{JitNetwork, JitOptions, jit_scheme};
    let start = Instant::now();
    let params = net(64).params().to_vec();
    let graph = Graph::mlp(2, &[64, 64], IrActivation::Tanh, true).expect("graph");
    let opts = JitOptions {
        check_order: false,
        ..JitOptions::default()
    };
    let model = JitNetwork::new(
        Interpreted::<f64>::new(graph, params).expect("model"),
        &opts,
    )
    .expect("compiles");
    let (sch, _) =
        jit_scheme::<f64>(&symplode::prelude::builtin("rk4").expect("rk4"), &opts).expect("jit");
    let x = x0(256);
    let p = Problem::single(&model, &[0.0, 1.0], &sch, Stepping::fixed(100), &x);
    SymplecticAdjoint
        .gradient(&p, &mut losses::mean_sq_final(2))
        .expect("gradient");
    Some(start.elapsed().as_secs_f64())
}

#[cfg(not(feature = "jit"))]
fn first_gradient_jit() -> Option<f64> {
    None
}

/// The case table in element type `T` (`name` in its heading); returns each case's seconds
/// (symplectic, stored, backprop).
fn case_table<T: Real>(cases: &[Case], reps: usize, name: &str) -> Vec<[f64; 3]> {
    let mut times = Vec::with_capacity(cases.len());
    println!(
        "single thread, {name}, median of {reps} ({} for the small and adaptive cases, 3 at batch 4096); peak = everything the runtime counted at once\n",
        reps * 7
    );
    println!(
        "| case | symplectic s | symplectic-stored s | backprop s | symplectic / backprop | stored / backprop | symplectic peak MiB | stored peak MiB | backprop peak MiB | NFE fwd/bwd (symplectic) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for c in cases {
        let model = net::<T>(c.hidden);
        let x = x0::<T>(c.batch);
        let sch = Scheme::<T>::builtin(c.tableau).expect("tableau");
        let p = Problem::single(&model, &[0.0, 1.0], &sch, c.stepping.clone(), &x);
        // Fast cases get more repeats: their medians are otherwise at the mercy of one hiccup.
        let r = if c.batch >= 4096 {
            reps.min(3)
        } else if c.batch <= 16 || matches!(c.stepping, Stepping::Adaptive(_)) {
            reps * 7
        } else {
            reps
        };
        let (ts, ss) = time_gradient(&SymplecticAdjoint, &p, r);
        let (tt, st) = time_gradient(&SymplecticAdjointStored, &p, r);
        let (tb, sb) = time_gradient(&Backprop, &p, r);
        println!(
            "| {} | {ts:.5} | {tt:.5} | {tb:.5} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {}/{} |",
            c.label,
            ts / tb,
            tt / tb,
            mib(ss.peak_total_bytes),
            mib(st.peak_total_bytes),
            mib(sb.peak_total_bytes),
            ss.nfe_forward,
            ss.nfe_backward + ss.vjp_backward
        );
        times.push([ts, tt, tb]);
    }
    times
}

/// A `/proc/self/status` field in bytes (`VmRSS`, `VmHWM`), or 0 where there is none.
fn status_bytes(field: &str) -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<usize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// `--peak-rss METHOD`: one gradient of the batch-4096 / hidden-256 rk4 N=10 case; prints the
/// resident set before it, the process's peak resident set and the runtime's counted peak.
fn peak_rss(method: &str) {
    let model = net::<f64>(256);
    let x = x0::<f64>(4096);
    let sch = Scheme::<f64>::builtin("rk4").expect("rk4");
    let p = Problem::single(&model, &[0.0, 1.0], &sch, Stepping::fixed(10), &x);
    let m: &dyn GradientMethod<f64> = match method {
        "symplectic" => &SymplecticAdjoint,
        "stored" => &SymplecticAdjointStored,
        "backprop" => &Backprop,
        other => {
            eprintln!("--peak-rss: unknown method `{other}` (symplectic, stored or backprop)");
            std::process::exit(2);
        }
    };
    let before = status_bytes("VmRSS");
    let r = m
        .gradient(&p, &mut losses::mean_sq_final(2))
        .expect("gradient");
    println!(
        "{{\"method\": \"{method}\", \"before\": {before}, \"peak\": {}, \"counted\": {}}}",
        status_bytes("VmHWM"),
        r.stats.peak_total_bytes
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--peak-rss") {
        peak_rss(args.get(i + 1).map_or("symplectic", String::as_str));
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let f32_mode = std::env::args().any(|a| a == "--f32");
    let reps = if quick { 3 } else { 7 };
    let first = Instant::now();
    {
        let model = net(64);
        let x = x0(256);
        let sch = Scheme::<f64>::builtin("rk4").expect("rk4");
        let p = Problem::single(&model, &[0.0, 1.0], &sch, Stepping::fixed(100), &x);
        SymplecticAdjoint
            .gradient(&p, &mut losses::mean_sq_final(2))
            .expect("gradient");
    }
    let first_gradient = first.elapsed().as_secs_f64();
    let first_jit = first_gradient_jit();

    let cases = [
        Case {
            label: "batch 256, rk4 N=100",
            batch: 256,
            hidden: 64,
            tableau: "rk4",
            stepping: Stepping::fixed(100),
        },
        Case {
            label: "batch 256, rk4 N=1000",
            batch: 256,
            hidden: 64,
            tableau: "rk4",
            stepping: Stepping::fixed(1000),
        },
        Case {
            label: "batch 256, dopri5 N=100",
            batch: 256,
            hidden: 64,
            tableau: "dopri5",
            stepping: Stepping::fixed(100),
        },
        Case {
            label: "batch 256, dopri5 rtol=atol=1e-6",
            batch: 256,
            hidden: 64,
            tableau: "dopri5",
            stepping: Stepping::adaptive(1e-6, 1e-6),
        },
        Case {
            label: "batch 16 / hidden 32, rk4 N=100",
            batch: 16,
            hidden: 32,
            tableau: "rk4",
            stepping: Stepping::fixed(100),
        },
        Case {
            label: "batch 4096 / hidden 256, rk4 N=10",
            batch: 4096,
            hidden: 256,
            tableau: "rk4",
            stepping: Stepping::fixed(10),
        },
    ];
    println!("CPU: {}\n", symplode::runtime::machine::machine());
    if f32_mode {
        let f64_times = case_table::<f64>(&cases, reps, "f64");
        let f32_times = case_table::<f32>(&cases, reps, "f32");
        println!("\nf32 speed-up over f64 (seconds f64 / f32, same cases, same run):\n");
        println!("| case | symplectic | symplectic-stored | backprop |");
        println!("|---|---|---|---|");
        for ((c, a), b) in cases.iter().zip(&f64_times).zip(&f32_times) {
            println!(
                "| {} | {:.2} | {:.2} | {:.2} |",
                c.label,
                a[0] / b[0],
                a[1] / b[1],
                a[2] / b[2]
            );
        }
        return;
    }
    case_table::<f64>(&cases, reps, "f64");

    println!(
        "\n2 threads vs 1 (Chunked, 128-row chunks; gradients bit-identical), symplectic, rk4 N=20:\n"
    );
    println!("| batch / hidden | 1 thread s | 2 threads s | speed-up |");
    println!("|---|---|---|---|");
    for (batch, hidden) in [(1024, 64), (4096, 64), (4096, 256)] {
        let x = x0(batch);
        let sch = Scheme::<f64>::builtin("rk4").expect("rk4");
        let mut t = [0.0; 2];
        let mut grads: Vec<Vec<f64>> = Vec::new();
        for (i, threads) in [1usize, 2].into_iter().enumerate() {
            let model = Chunked::new(net(hidden), 128)
                .and_then(|m| m.with_threads(threads))
                .expect("chunked");
            let p = Problem::single(&model, &[0.0, 1.0], &sch, Stepping::fixed(20), &x);
            let (secs, _) = model.install(|| time_gradient(&SymplecticAdjoint, &p, reps.min(3)));
            t[i] = secs;
            let g = SymplecticAdjoint
                .gradient(&p, &mut losses::mean_sq_final(2))
                .expect("gradient");
            grads.push(g.dtheta[0].clone());
        }
        assert_eq!(
            grads[0], grads[1],
            "gradients differ between 1 and 2 threads"
        );
        println!(
            "| {batch} / {hidden} | {:.3} | {:.3} | {:.2} |",
            t[0],
            t[1],
            t[0] / t[1]
        );
    }

    let peak = fma_peak();
    let g1 = gemm_gflops(4096, 256, 256, false);
    let g2 = gemm_gflops(256, 4096, 256, true);
    println!("\nthis core's measured f64 FMA peak: {peak:.1} GFLOP/s");
    println!(
        "GEMM 4096 x 256 x 256 (the hidden layer at batch 4096, H·Wᵀ): {g1:.1} GFLOP/s = {:.0}% of peak",
        100.0 * g1 / peak
    );
    println!(
        "GEMM 256 x 4096 x 256 (its weight gradient δᵀ·H): {g2:.1} GFLOP/s = {:.0}% of peak",
        100.0 * g2 / peak
    );
    println!(
        "time to the first gradient (fresh model, rk4 N=100, batch 256, no JIT): {first_gradient:.3} s"
    );
    if let Some(s) = first_jit {
        println!(
            "time to the first gradient through the JIT (compile rk4 kernels + network, then the gradient): {s:.3} s"
        );
    }
}
