//! Where the batch-256 gradient's time goes on this core, and the least it could take: the
//! check behind issue 17's "≥ 1.5× diffrax" figures (`docs/performance.md`, "The floor of the
//! batch-256 gradient").
//!
//! For the `speed` workload (state 2, input [x, t], 64 tanh → 64 tanh → 2, batch 256, f64) and
//! each fixed-step case, it runs the symplectic adjoint (stages recomputed, as in the paper) and
//! its stored-stage variant, takes their counts of plain evaluations and VJPs, and prints:
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
//!   symplectic adjoint, / 2 for the stored variant) beside those floors.
//!
//! ```text
//! cargo run --release --example floor -- [--diffrax rk4_n100=S,rk4_n1000=S,dopri5_n100=S]
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

const BATCH: usize = 256;
const HIDDEN: usize = 64;
const DIM: usize = 2;

struct Case {
    key: &'static str,
    label: &'static str,
    tableau: &'static str,
    steps: usize,
    reps: usize,
}

const CASES: [Case; 3] = [
    Case {
        key: "rk4_n100",
        label: "rk4 N=100",
        tableau: "rk4",
        steps: 100,
        reps: 7,
    },
    Case {
        key: "rk4_n1000",
        label: "rk4 N=1000",
        tableau: "rk4",
        steps: 1000,
        reps: 3,
    },
    Case {
        key: "dopri5_n100",
        label: "dopri5 N=100",
        tableau: "dopri5",
        steps: 100,
        reps: 7,
    },
];

/// GEMM flops of one plain evaluation and of one VJP (its taped forward of the hidden layers,
/// then a weight and an input gradient per layer), and the tanh calls of each. The time
/// column is folded into the first layer's bias, so that layer's inner dimension is `DIM`.
fn pass_counts() -> (f64, f64, f64) {
    let widths = [DIM, HIDDEN, HIDDEN, DIM];
    let layer = |l: usize| 2.0 * (BATCH * widths[l] * widths[l + 1]) as f64;
    let eval: f64 = (0..3).map(layer).sum();
    let vjp = (eval - layer(2)) + 2.0 * eval;
    let tanh = (BATCH * 2 * HIDDEN) as f64;
    (eval, vjp, tanh)
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
    let model: Mlp<f64> = Mlp::new(
        MlpConfig {
            dim: DIM,
            hidden: vec![HIDDEN, HIDDEN],
            activation: Activation::Tanh,
            time_input: true,
        },
        2021,
    )
    .expect("network");
    let mut rng = symplode::runtime::rng::Rng::new(7);
    let x: Vec<f64> = (0..BATCH * DIM)
        .map(|_| rng.uniform_range(-2.0, 2.0))
        .collect();

    // One evaluation and one VJP alone, hot.
    let mut scratch = vec![0.0; model.scratch_len(BATCH)];
    let (mut dx, lam, mut gx) = (
        vec![0.0; BATCH * DIM],
        vec![0.1; BATCH * DIM],
        vec![0.0; BATCH * DIM],
    );
    let mut gp = vec![0.0; model.n_params()];
    let t_eval = best_of(2000, || model.eval(0.5, &x, &mut dx, &mut scratch));
    let t_vjp = best_of(1000, || {
        model.vjp(0.5, &x, &lam, &mut gx, &mut gp, &mut scratch);
    });
    // The tanh kernel on one layer's activations, hot.
    let src: Vec<f64> = (0..BATCH * HIDDEN)
        .map(|i| ((i * 7919) % 4001) as f64 / 1000.0 - 2.0)
        .collect();
    let mut act = src.clone();
    let copy = best_of(4000, || act.copy_from_slice(&src));
    let tanh_layer = best_of(4000, || {
        act.copy_from_slice(&src);
        tanh_in_place(&mut act);
    }) - copy;
    let tanh_ns = tanh_layer / (BATCH * HIDDEN) as f64 * 1e9;
    let peak = peak::fma_peak();
    let (eval_flops, vjp_flops, tanh_calls) = pass_counts();
    let floor = |flops: f64| flops / (peak * 1e9);
    let with_tanh = |flops: f64| floor(flops) + tanh_calls * tanh_ns * 1e-9;

    println!("CPU: {}", machine::cpu());
    println!("load: {}", machine::uptime());
    println!(
        "\nbatch {BATCH}, [x, t] → {HIDDEN} tanh → {HIDDEN} tanh → {DIM}, f64, one thread\n\
         FMA peak {peak:.1} GFLOP/s; tanh {tanh_ns:.3} ns per element (hot, {} elements)\n\
         one evaluation: {:.1} µs measured, FMA floor {:.1} µs ({:.2} MFLOP), + tanh floor {:.1} µs\n\
         one VJP:        {:.1} µs measured, FMA floor {:.1} µs ({:.2} MFLOP), + tanh floor {:.1} µs\n",
        BATCH * HIDDEN,
        t_eval * 1e6,
        floor(eval_flops) * 1e6,
        eval_flops * 1e-6,
        with_tanh(eval_flops) * 1e6,
        t_vjp * 1e6,
        floor(vjp_flops) * 1e6,
        vjp_flops * 1e-6,
        with_tanh(vjp_flops) * 1e6,
    );
    println!(
        "| case | method | evals + VJPs | measured s | passes s | measured / passes | FMA floor s | + tanh floor s | measured / (+ tanh floor) | diffrax s | target s | target / FMA floor | target / (+ tanh floor) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for c in &CASES {
        let scheme = Scheme::<f64>::builtin(c.tableau).expect("tableau");
        let p = Problem::single(&model, &[0.0, 1.0], &scheme, Stepping::fixed(c.steps), &x);
        let methods: [(&str, &dyn GradientMethod<f64>, f64); 2] = [
            ("symplectic", &SymplecticAdjoint, 1.5),
            ("stored", &SymplecticAdjointStored, 2.0),
        ];
        for (name, method, ratio) in methods {
            let (secs, st) = gradient(method, &p, c.reps);
            let evals = (st.nfe_forward + st.nfe_backward) as f64;
            let vjps = st.vjp_backward as f64;
            let passes = evals * t_eval + vjps * t_vjp;
            let fma = evals * floor(eval_flops) + vjps * floor(vjp_flops);
            let tanh = evals * with_tanh(eval_flops) + vjps * with_tanh(vjp_flops);
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
    println!(
        "\nA target / floor below 1 cannot be met by any code doing these passes on this core \
         (FMA floor) or with this tanh kernel (+ tanh floor)."
    );
}
