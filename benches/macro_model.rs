//! `neural_ode!`-generated model and kernels vs the hand-written `Mlp` with the interpreted
//! scheme: [x, t] → 64 tanh → 64 tanh → 2, dopri5, batch 256 and 4096, f64, one thread.
//!
//! `cargo bench --bench macro_model` (divan; ratios in docs/macro.md).

use divan::Bencher;
use symplode::neural_ode;
use symplode::prelude::*;

neural_ode! {
    /// The benchmarked network.
    struct Net {
        float: f64,
        dim: 2,
        time: true,
        layers: [dense(64, tanh), dense(64, tanh), dense(2)],
        tableau: dopri5,
        solver: { rtol: 1e-6, atol: 1e-8 },
    }
}

const BATCHES: [usize; 2] = [256, 4096];

fn x0(batch: usize) -> Vec<f64> {
    (0..2 * batch).map(|i| (i as f64 * 0.013).sin()).collect()
}

fn mlp() -> Mlp<f64> {
    Mlp::new(MlpConfig::new(2, vec![64, 64], Activation::Tanh, true), 0).expect("valid config")
}

/// (model, scheme) for `generated`.
fn setup(generated: bool) -> (Box<dyn Dynamics<f64>>, Scheme<f64>) {
    if generated {
        (Box::new(Net::new(0)), Net::scheme().expect("valid"))
    } else {
        (Box::new(mlp()), Scheme::builtin("dopri5").expect("valid"))
    }
}

fn step(bencher: Bencher, batch: usize, generated: bool) {
    let (m, s) = setup(generated);
    let x = x0(batch);
    bencher.bench_local(|| solve(&*m, &s, &Stepping::fixed(1), &[0.0, 0.1], &x).expect("solves"));
}

fn full_solve(bencher: Bencher, batch: usize, generated: bool) {
    let (m, s) = setup(generated);
    let x = x0(batch);
    bencher.bench_local(|| solve(&*m, &s, &Net::stepping(), &[0.0, 1.0], &x).expect("solves"));
}

fn gradient(bencher: Bencher, batch: usize, generated: bool) {
    let (m, s) = setup(generated);
    let x = x0(batch);
    bencher.bench_local(|| {
        let p = Problem::single(&*m, &[0.0, 1.0], &s, Net::stepping(), &x);
        SymplecticAdjoint
            .gradient(&p, &mut losses::mean_sq_final(2))
            .expect("differentiates")
    });
}

/// One dopri5 step (7 evaluations).
#[divan::bench(args = BATCHES, sample_count = 20)]
fn step_generated(b: Bencher, batch: usize) {
    step(b, batch, true)
}

/// One dopri5 step, hand-written MLP and interpreted scheme.
#[divan::bench(args = BATCHES, sample_count = 20)]
fn step_mlp(b: Bencher, batch: usize) {
    step(b, batch, false)
}

/// Adaptive solve over [0, 1].
#[divan::bench(args = BATCHES, sample_count = 10, sample_size = 1)]
fn solve_generated(b: Bencher, batch: usize) {
    full_solve(b, batch, true)
}

/// Adaptive solve over [0, 1], hand-written.
#[divan::bench(args = BATCHES, sample_count = 10, sample_size = 1)]
fn solve_mlp(b: Bencher, batch: usize) {
    full_solve(b, batch, false)
}

/// Symplectic-adjoint gradient over [0, 1].
#[divan::bench(args = BATCHES, sample_count = 10, sample_size = 1)]
fn grad_generated(b: Bencher, batch: usize) {
    gradient(b, batch, true)
}

/// Symplectic-adjoint gradient over [0, 1], hand-written.
#[divan::bench(args = BATCHES, sample_count = 10, sample_size = 1)]
fn grad_mlp(b: Bencher, batch: usize) {
    gradient(b, batch, false)
}

/// The step kernels alone (dopri5: six stage inputs, the update and the error estimate, then
/// the six adjoint cotangents) on a state of `batch·2` values.
fn kernels(bencher: Bencher, batch: usize, generated: bool) {
    let (_, s) = setup(generated);
    let n = 2 * batch;
    let x = x0(batch);
    let k: Vec<Vec<f64>> = (0..7)
        .map(|j| (0..n).map(|i| ((i + j) as f64 * 0.01).cos()).collect())
        .collect();
    let mut out = vec![0.0; n];
    bencher.bench_local(|| {
        for i in 1..7 {
            s.stage_input(i, 0.1, &x, &k, &mut out);
        }
        s.update(7, 0.1, &x, &k, &mut out);
        s.error_estimate(0.1, &k, &mut out);
        for i in (0..6).rev() {
            s.adjoint_cotangent(i, 0.1, &x, &k, &mut out);
        }
        divan::black_box(&mut out);
    });
}

/// Generated step kernels.
#[divan::bench(args = BATCHES)]
fn kernels_generated(b: Bencher, batch: usize) {
    kernels(b, batch, true)
}

/// Interpreted step kernels (`Scheme`'s loops).
#[divan::bench(args = BATCHES)]
fn kernels_interpreted(b: Bencher, batch: usize) {
    kernels(b, batch, false)
}

fn main() {
    divan::main();
}
