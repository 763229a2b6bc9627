//! Real peak heap of each gradient method at N = 10, 100, 1000 steps, measured with a counting
//! global allocator, against the method's own prediction.
//!
//! Same MLP as `gradient_check` (state 2, [x, t], 64 tanh × 2, batch 256), rk4 and dopri5 with
//! fixed steps over t ∈ [0, 1]. The growth per extra step shows the paper's complexity table:
//! the symplectic adjoint and ACA grow by one state checkpoint per step, checkpoint-per-component
//! and backprop by about s·L (every stage's tape), the adjoint method not at all.
//!
//! Run: `cargo run --release --example memory_scaling`

use std::sync::atomic::Ordering;
use std::time::Instant;

use symplode::prelude::*;

#[path = "common/heap.rs"]
mod heap;
use heap::{CURRENT, PEAK};

#[global_allocator]
static GLOBAL: heap::Counting = heap::Counting;

const BATCH: usize = 256;

fn mib(b: usize) -> String {
    format!("{:.2}", b as f64 / (1024.0 * 1024.0))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let net = Mlp::<f64>::new(
        MlpConfig {
            dim: 2,
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            time_input: true,
        },
        2021,
    )?;
    let mut rng = symplode::runtime::rng::Rng::new(7);
    let x0: Vec<f64> = (0..BATCH * 2)
        .map(|_| rng.uniform_range(-2.0, 2.0))
        .collect();
    let methods: Vec<Box<dyn GradientMethod<f64>>> = vec![
        Box::new(Adjoint::default()),
        Box::new(Backprop),
        Box::new(CheckpointComponent),
        Box::new(CheckpointStep),
        Box::new(SymplecticAdjoint),
        Box::new(SymplecticAdjointStored),
    ];
    let state_bytes = BATCH * 2 * 8;
    let tape_bytes = net.tape_len(BATCH) * 8;
    println!("MLP 2 -> [x,t] -> 64 tanh -> 64 tanh -> 2, batch {BATCH}, f64");
    println!(
        "one state = {} KiB; one stage tape L (input + activations) = {} KiB\n",
        state_bytes / 1024,
        (state_bytes + tape_bytes) / 1024
    );
    println!(
        "| tableau | method | N | peak heap MiB (measured) | predicted MiB | measured / predicted | seconds |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut growth = Vec::new();
    for name in ["rk4", "dopri5"] {
        let scheme = Scheme::<f64>::builtin(name)?;
        for m in &methods {
            let mut peaks = Vec::new();
            for n in [10usize, 100, 1000] {
                let problem = Problem::single(&net, &[0.0, 1.0], &scheme, Stepping::fixed(n), &x0);
                let predicted = m.predict(&ProblemSizes::of(&problem, &[n]));
                let base = CURRENT.load(Ordering::Relaxed);
                PEAK.store(base, Ordering::Relaxed);
                let start = Instant::now();
                let r = m.gradient(&problem, &mut losses::mean_sq_final(2))?;
                let secs = start.elapsed().as_secs_f64();
                let peak = PEAK.load(Ordering::Relaxed) - base;
                drop(r);
                let pred = predicted.total();
                println!(
                    "| {name} | {} | {n} | {} | {} | {:.2} | {secs:.3} |",
                    m.name(),
                    mib(peak),
                    mib(pred),
                    peak as f64 / pred as f64
                );
                peaks.push(peak);
            }
            let per_step = (peaks[2] as f64 - peaks[1] as f64) / 900.0;
            growth.push((name, m.name(), per_step, scheme.effective_stages()));
        }
    }
    println!("\nGrowth of peak heap per extra step (N = 100 -> 1000):\n");
    println!(
        "| tableau | method | bytes per step | in states (x 1 state) | in stage tapes (x s*L) |"
    );
    println!("|---|---|---|---|---|");
    for (name, method, per_step, s) in growth {
        println!(
            "| {name} | {method} | {per_step:.0} | {:.2} | {:.2} |",
            per_step / state_bytes as f64,
            per_step / (s as f64 * (state_bytes + tape_bytes) as f64)
        );
    }
    Ok(())
}
