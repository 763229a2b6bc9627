//! Where a gradient's time goes on this core, and the least it could take: the check behind
//! issue 17's "× diffrax" figures (`docs/performance.md`, "The floor of the batch-256
//! gradient").
//!
//! For the `speed` workload (state 2, input [x, t], H tanh → H tanh → 2, f64) at batch 256 /
//! hidden 64 (rk4 N = 100 and 1000, dopri5 N = 100) and at the small case, batch 16 / hidden 32
//! (rk4 N = 100), it runs the symplectic adjoint (stages recomputed, as in the paper) and its
//! stored-stage variant, takes their counts of plain evaluations and VJPs, and prints:
//!
//! - **passes**: those counts times one evaluation's and one VJP's time measured alone in a hot
//!   loop, so `measured / passes` is what the solver adds around the network (stage sums,
//!   checkpoints, the adjoint's combinations);
//! - **FMA floor**: every GEMM flop of those passes at this core's measured FMA peak and nothing
//!   else: no solver, no activation, no memory traffic. No implementation of the same passes on
//!   this core can beat it;
//! - **+ tanh floor**: the FMA floor plus every tanh at the kernel's own hot-loop rate (this
//!   library's kernel, not a hardware bound);
//! - with `--diffrax`, the time a ratio target asks for (diffrax's seconds / 1.5 for the
//!   symplectic adjoint, / 2 for the stored variant; / 4 for both at the small case) beside
//!   those floors.
//!
//! ```text
//! cargo run --release --example floor -- [--diffrax rk4_n100=S,rk4_n1000=S,dopri5_n100=S,small_rk4=S]
//! ```
//!
//! diffrax's seconds come from `bench/peers/run_peers.py --peers diffrax` on the same machine
//! (its markdown table). Pin the process to one core (`taskset -c 1`) as the peers are.

#[path = "common/machine.rs"]
mod machine;
#[path = "common/peak.rs"]
mod peak;

use std::time::Instant;

use symplode::prelude::*;
use symplode::runtime::Dynamics;
use symplode::runtime::linalg::fastmath::tanh_in_place;

const DIM: usize = 2;

struct Case {
    key: &'static str,
    label: &'static str,
    batch: usize,
    hidden: usize,
    tableau: &'static str,
    steps: usize,
    reps: usize,
    /// The issue's ratios to diffrax: symplectic, stored.
    ratios: [f64; 2],
}

const CASES: [Case; 4] = [
    Case {
        key: "rk4_n100",
        label: "rk4 N=100",
        batch: 256,
        hidden: 64,
        tableau: "rk4",
        steps: 100,
        reps: 7,
        ratios: [1.5, 2.0],
    },
    Case {
        key: "rk4_n1000",
        label: "rk4 N=1000",
        batch: 256,
        hidden: 64,
        tableau: "rk4",
        steps: 1000,
        reps: 3,
        ratios: [1.5, 2.0],
    },
    Case {
        key: "dopri5_n100",
        label: "dopri5 N=100",
        batch: 256,
        hidden: 64,
        tableau: "dopri5",
        steps: 100,
        reps: 7,
        ratios: [1.5, 2.0],
    },
    Case {
        key: "small_rk4",
        label: "batch 16 / hidden 32, rk4 N=100",
        batch: 16,
        hidden: 32,
        tableau: "rk4",
        steps: 100,
        reps: 21,
        ratios: [4.0, 4.0],
    },
];

/// GEMM flops of one plain evaluation and of one VJP (its taped forward of the hidden layers,
/// then a weight and an input gradient per layer), and the tanh calls of each. The time
/// column is folded into the first layer's bias, so that layer's inner dimension is `DIM`.
fn pass_counts(batch: usize, hidden: usize) -> (f64, f64, f64) {
    let widths = [DIM, hidden, hidden, DIM];
    let layer = |l: usize| 2.0 * (batch * widths[l] * widths[l + 1]) as f64;
    let eval: f64 = (0..3).map(layer).sum();
    let vjp = (eval - layer(2)) + 2.0 * eval;
    let tanh = (batch * 2 * hidden) as f64;
    (eval, vjp, tanh)
}

/// One network size measured alone: seconds of one plain evaluation and one VJP, and the two
/// floors of each (FMA only; FMA + tanh).
struct Passes {
    eval: f64,
    vjp: f64,
    fma: [f64; 2],
    fma_tanh: [f64; 2],
}

/// Times one evaluation and one VJP of `model` alone, hot, and sets their floors from the FMA
/// peak (GFLOP/s) and the tanh rate (ns per element).
fn passes(model: &Mlp<f64>, x: &[f64], peak: f64, tanh_ns: f64) -> Passes {
    let (batch, hidden) = (x.len() / DIM, model.config().hidden[0]);
    let mut scratch = vec![0.0; model.scratch_len(batch)];
    let (mut dx, lam, mut gx) = (vec![0.0; x.len()], vec![0.1; x.len()], vec![0.0; x.len()]);
    let mut gp = vec![0.0; model.n_params()];
    // Enough calls per timed batch for a few milliseconds at either size.
    let n = (2_000_000 / (batch * hidden)).clamp(200, 20_000);
    let eval = best_of(n, || model.eval(0.5, x, &mut dx, &mut scratch));
    let vjp = best_of(n / 2, || {
        model.vjp(0.5, x, &lam, &mut gx, &mut gp, &mut scratch);
    });
    let (eval_flops, vjp_flops, tanh_calls) = pass_counts(batch, hidden);
    let fma = [eval_flops, vjp_flops].map(|f| f / (peak * 1e9));
    let fma_tanh = fma.map(|f| f + tanh_calls * tanh_ns * 1e-9);
    Passes {
        eval,
        vjp,
        fma,
        fma_tanh,
    }
}

/// The network of the `speed` workload at one width.
fn network(hidden: usize) -> Mlp<f64> {
    Mlp::new(
        MlpConfig {
            dim: DIM,
            hidden: vec![hidden, hidden],
            activation: Activation::Tanh,
            time_input: true,
        },
        2021,
    )
    .expect("network")
}

/// Best seconds per call of `f` over 5 batches of `n` calls.
fn best_of(n: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        best = best.min(start.elapsed().as_secs_f64() / n as f64);
    }
    best
}

/// Median seconds of `reps` gradients and the counts of the last one.
fn gradient(method: &dyn GradientMethod<f64>, p: &Problem<'_, f64>, reps: usize) -> (f64, Stats) {
    let mut times = Vec::with_capacity(reps);
    let mut stats = Stats::default();
    for _ in 0..reps {
        let start = Instant::now();
        let r = method
            .gradient(p, &mut losses::mean_sq_final(DIM))
            .expect("gradient");
        times.push(start.elapsed().as_secs_f64());
        stats = r.stats;
    }
    times.sort_by(f64::total_cmp);
    (times[reps / 2], stats)
}

/// `--diffrax key=seconds,…` as (key, seconds) pairs; an unreadable entry is reported, not
/// guessed.
fn diffrax_seconds() -> Vec<(String, f64)> {
    let args: Vec<String> = std::env::args().collect();
    let Some(i) = args.iter().position(|a| a == "--diffrax") else {
        return Vec::new();
    };
    let Some(list) = args.get(i + 1) else {
        eprintln!("--diffrax needs key=seconds pairs, e.g. rk4_n100=0.155");
        std::process::exit(2);
    };
    list.split(',')
        .map(|kv| match kv.split_once('=').map(|(k, v)| (k, v.parse())) {
            Some((k, Ok(s))) => (k.to_string(), s),
            _ => {
                eprintln!("--diffrax: `{kv}` is not key=seconds");
                std::process::exit(2);
            }
        })
        .collect()
}

fn main() {
    let diffrax = diffrax_seconds();
    // The tanh kernel on one batch-256 layer's activations, hot.
    let src: Vec<f64> = (0..256 * 64)
        .map(|i| ((i * 7919) % 4001) as f64 / 1000.0 - 2.0)
        .collect();
    let mut act = src.clone();
    let copy = best_of(4000, || act.copy_from_slice(&src));
    let tanh_layer = best_of(4000, || {
        act.copy_from_slice(&src);
        tanh_in_place(&mut act);
    }) - copy;
    let tanh_ns = tanh_layer / src.len() as f64 * 1e9;
    let peak = peak::fma_peak();

    println!("CPU: {}", machine::cpu());
    println!("load: {}", machine::uptime());
    println!(
        "\n[x, t] → H tanh → H tanh → {DIM}, f64, one thread; FMA peak {peak:.1} GFLOP/s; tanh \
         {tanh_ns:.3} ns per element (hot, {} elements)\n",
        src.len()
    );
    println!(
        "| case | method | evals + VJPs | measured s | passes s | measured / passes | FMA floor s | + tanh floor s | measured / (+ tanh floor) | diffrax s | target s | target / FMA floor | target / (+ tanh floor) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut measured: Vec<(usize, usize, Passes)> = Vec::new();
    for c in &CASES {
        let model = network(c.hidden);
        let mut rng = symplode::runtime::rng::Rng::new(7);
        let x: Vec<f64> = (0..c.batch * DIM)
            .map(|_| rng.uniform_range(-2.0, 2.0))
            .collect();
        if !measured.iter().any(|m| (m.0, m.1) == (c.batch, c.hidden)) {
            let p = passes(&model, &x, peak, tanh_ns);
            measured.push((c.batch, c.hidden, p));
        }
        let pass = &measured
            .iter()
            .find(|m| (m.0, m.1) == (c.batch, c.hidden))
            .expect("measured above")
            .2;
        let scheme = Scheme::<f64>::builtin(c.tableau).expect("tableau");
        let p = Problem::single(&model, &[0.0, 1.0], &scheme, Stepping::fixed(c.steps), &x);
        let methods: [(&str, &dyn GradientMethod<f64>, f64); 2] = [
            ("symplectic", &SymplecticAdjoint, c.ratios[0]),
            ("stored", &SymplecticAdjointStored, c.ratios[1]),
        ];
        for (name, method, ratio) in methods {
            let (secs, st) = gradient(method, &p, c.reps);
            let evals = (st.nfe_forward + st.nfe_backward) as f64;
            let vjps = st.vjp_backward as f64;
            let passes = evals * pass.eval + vjps * pass.vjp;
            let fma = evals * pass.fma[0] + vjps * pass.fma[1];
            let tanh = evals * pass.fma_tanh[0] + vjps * pass.fma_tanh[1];
            let target = diffrax
                .iter()
                .find(|(k, _)| k == c.key)
                .map(|&(_, d)| (d, d / ratio));
            let (d, tgt, r_fma, r_tanh) = match target {
                Some((d, t)) => (
                    format!("{d:.4}"),
                    format!("{t:.4} (÷{ratio})"),
                    format!("{:.2}", t / fma),
                    format!("{:.2}", t / tanh),
                ),
                None => ("—".into(), "—".into(), "—".into(), "—".into()),
            };
            println!(
                "| {} | {name} | {} + {} | {secs:.4} | {passes:.4} | {:.2} | {fma:.4} | {tanh:.4} | {:.2} | {d} | {tgt} | {r_fma} | {r_tanh} |",
                c.label,
                st.nfe_forward + st.nfe_backward,
                st.vjp_backward,
                secs / passes,
                secs / tanh,
            );
        }
    }
    println!("\nOne evaluation / one VJP alone (µs): measured, FMA floor, + tanh floor");
    for (batch, hidden, p) in &measured {
        println!(
            "  batch {batch} / hidden {hidden}: evaluation {:.1}, {:.1}, {:.1}; VJP {:.1}, {:.1}, {:.1}",
            p.eval * 1e6,
            p.fma[0] * 1e6,
            p.fma_tanh[0] * 1e6,
            p.vjp * 1e6,
            p.fma[1] * 1e6,
            p.fma_tanh[1] * 1e6,
        );
    }
    println!(
        "\nA target / floor below 1 cannot be met by any code doing these passes on this core \
         (FMA floor) or with this tanh kernel (+ tanh floor)."
    );
}
