//! Per-sample adaptive steps against per-batch step control on a batch whose samples differ
//! in speed by 100×: `dx/dt = k·f(x, t; θ)` with f a tanh MLP and one rate k per sample
//! (stored in the state, `k̇ = 0`), k spread geometrically over [1, 100].
//!
//! Prints, for both step controls: the summed sample-steps and sample-evaluations, the
//! batched evaluation calls, the forward wall time and the symplectic-adjoint gradient's wall
//! time (best of 3), each sample's error at t = 1 against a tight reference; and the sum of each
//! sample solved alone (the per-sample sum must stay within 1.1×).
//!
//! `cargo run --release --example per_sample [-- BATCH]` (default 1024). Figures in
//! docs/per-sample.md. One file: the rate-scaled wrapper exists only for this benchmark.

#[path = "common/machine.rs"]
#[allow(dead_code)]
mod machine;

use std::time::Instant;

use symplode::prelude::*;
use symplode::runtime::models::{Activation, Mlp, MlpConfig};
use symplode::runtime::{ParamTensor, solver};

/// `[ẋ, k̇] = [k·f(x, t), 0]`: the inner dynamics sped up by the sample's own rate k (the
/// state's last column).
struct RateScaled<D>(D);

impl<D> RateScaled<D> {
    /// Copies the inner states `x` of rows `[x, k]` into `xi` (`d` = inner dimension).
    fn split<T: Real>(x: &[T], d: usize, xi: &mut [T]) {
        for (r, o) in x.chunks_exact(d + 1).zip(xi.chunks_exact_mut(d)) {
            o.copy_from_slice(&r[..d]);
        }
    }
}

impl<T: Real, D: Dynamics<T>> Dynamics<T> for RateScaled<D> {
    fn dim(&self) -> usize {
        self.0.dim() + 1
    }
    fn params(&self) -> &[T] {
        self.0.params()
    }
    fn params_mut(&mut self) -> &mut [T] {
        self.0.params_mut()
    }
    fn param_tensors(&self) -> Vec<ParamTensor> {
        self.0.param_tensors()
    }
    fn scratch_len(&self, batch: usize) -> usize {
        4 * batch * self.0.dim() + self.0.scratch_len(batch).max(self.0.tape_len(batch))
    }
    fn tape_len(&self, batch: usize) -> usize {
        2 * batch * self.0.dim() + self.0.tape_len(batch)
    }
    fn eval(&self, t: T, x: &[T], dx: &mut [T], scratch: &mut [T]) {
        let d = self.0.dim();
        let n = x.len() / (d + 1) * d;
        let (xi, rest) = scratch.split_at_mut(n);
        let (fi, rest) = rest.split_at_mut(n);
        Self::split(x, d, xi);
        self.0.eval(t, xi, fi, rest);
        scale_out(x, fi, dx, d);
    }
    fn eval_at(&self, t: &[T], x: &[T], dx: &mut [T], scratch: &mut [T]) {
        let d = self.0.dim();
        let n = x.len() / (d + 1) * d;
        let (xi, rest) = scratch.split_at_mut(n);
        let (fi, rest) = rest.split_at_mut(n);
        Self::split(x, d, xi);
        self.0.eval_at(t, xi, fi, rest);
        scale_out(x, fi, dx, d);
    }
    fn vjp(&self, t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        let d = self.0.dim();
        let n = x.len() / (d + 1) * d;
        let (xi, rest) = scratch.split_at_mut(n);
        let (fi, rest) = rest.split_at_mut(n);
        let (li, rest) = rest.split_at_mut(n);
        let (gi, rest) = rest.split_at_mut(n);
        Self::split(x, d, xi);
        self.0.eval(t, xi, fi, rest);
        scale_lam(x, lam, li, d);
        self.0.vjp(t, xi, li, gi, gp, rest);
        gather_grad(lam, fi, gi, gx, d);
    }
    fn vjp_at(&self, t: &[T], x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], scratch: &mut [T]) {
        let d = self.0.dim();
        let n = x.len() / (d + 1) * d;
        let (xi, rest) = scratch.split_at_mut(n);
        let (fi, rest) = rest.split_at_mut(n);
        let (li, rest) = rest.split_at_mut(n);
        let (gi, rest) = rest.split_at_mut(n);
        Self::split(x, d, xi);
        self.0.eval_at(t, xi, fi, rest);
        scale_lam(x, lam, li, d);
        self.0.vjp_at(t, xi, li, gi, gp, rest);
        gather_grad(lam, fi, gi, gx, d);
    }
    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], tape: &mut [T]) {
        let d = self.0.dim();
        let n = x.len() / (d + 1) * d;
        let (xi, rest) = tape.split_at_mut(n);
        let (fi, rest) = rest.split_at_mut(n);
        Self::split(x, d, xi);
        self.0.eval_taped(t, xi, fi, rest);
        scale_out(x, fi, dx, d);
    }
    fn backward_taped(
        &self,
        t: T,
        x: &[T],
        tape: &[T],
        lam: &[T],
        gx: &mut [T],
        gp: &mut [T],
        scratch: &mut [T],
    ) {
        let d = self.0.dim();
        let n = x.len() / (d + 1) * d;
        let (xi, rest) = tape.split_at(n);
        let (fi, inner_tape) = rest.split_at(n);
        let (li, rest) = scratch.split_at_mut(n);
        let (gi, rest) = rest.split_at_mut(n);
        scale_lam(x, lam, li, d);
        self.0.backward_taped(t, xi, inner_tape, li, gi, gp, rest);
        gather_grad(lam, fi, gi, gx, d);
    }
}

/// `dx` rows = `[k·f, 0]`.
fn scale_out<T: Real>(x: &[T], f: &[T], dx: &mut [T], d: usize) {
    for ((r, fr), o) in x
        .chunks_exact(d + 1)
        .zip(f.chunks_exact(d))
        .zip(dx.chunks_exact_mut(d + 1))
    {
        let k = r[d];
        for (a, &b) in o[..d].iter_mut().zip(fr) {
            *a = k * b;
        }
        o[d] = T::zero();
    }
}

/// `li` rows = `k·λ[..d]`.
fn scale_lam<T: Real>(x: &[T], lam: &[T], li: &mut [T], d: usize) {
    for ((r, l), o) in x
        .chunks_exact(d + 1)
        .zip(lam.chunks_exact(d + 1))
        .zip(li.chunks_exact_mut(d))
    {
        for (a, &b) in o.iter_mut().zip(&l[..d]) {
            *a = r[d] * b;
        }
    }
}

/// `gx` rows = `[k·λᵀ∂f/∂x, λ[..d]·f]`.
fn gather_grad<T: Real>(lam: &[T], f: &[T], gi: &[T], gx: &mut [T], d: usize) {
    for (((l, fr), g), o) in lam
        .chunks_exact(d + 1)
        .zip(f.chunks_exact(d))
        .zip(gi.chunks_exact(d))
        .zip(gx.chunks_exact_mut(d + 1))
    {
        o[..d].copy_from_slice(g);
        o[d] = l[..d]
            .iter()
            .zip(fr)
            .fold(T::zero(), |s, (&a, &b)| s + a * b);
    }
}

/// One measured run: summed sample-steps, sample-evaluations, batched calls, the fewest and
/// most steps of one sample, the worst sample's error, seconds (best of `REPEAT`).
struct Row {
    steps: usize,
    evals: usize,
    calls: usize,
    min_max: (usize, usize),
    worst_err: f64,
    forward_s: f64,
    grad_s: f64,
}

const REPEAT: usize = 3;
const RTOL: f64 = 1e-6;
const ATOL: f64 = 1e-8;

/// The worst sample's error at t = 1 in tolerance units: max over samples of the RMS over its
/// components of |x − x_ref| / (atol + rtol·|x_ref|).
fn worst_error(x: &[f64], reference: &[f64], dim: usize) -> f64 {
    x.chunks_exact(dim)
        .zip(reference.chunks_exact(dim))
        .map(|(a, r)| {
            let s: f64 = a
                .iter()
                .zip(r)
                .map(|(&a, &r)| ((a - r) / (ATOL + RTOL * r.abs())).powi(2))
                .sum();
            (s / dim as f64).sqrt()
        })
        .fold(0.0, f64::max)
}

fn measure(
    f: &dyn Dynamics<f64>,
    sch: &Scheme<f64>,
    stepping: &Stepping,
    x0: &[f64],
    reference: &[f64],
) -> Row {
    let batch = x0.len() / f.dim();
    let times = [0.0, 1.0];
    let mut forward_s = f64::INFINITY;
    let mut sol = None;
    for _ in 0..REPEAT {
        let start = Instant::now();
        let s = solver::solve(f, sch, stepping, &times, x0).expect("solve");
        forward_s = forward_s.min(start.elapsed().as_secs_f64());
        sol = Some(s);
    }
    let sol = sol.expect("REPEAT ≥ 1");
    let c = sol.counters;
    let (steps, evals, calls, min_max) = if stepping.is_per_sample() {
        let per = sol.sample_grids.iter().map(|g| g.steps());
        let mm = (per.clone().min().unwrap_or(0), per.max().unwrap_or(0));
        (c.accepted, c.nfe, c.eval_calls, mm)
    } else {
        let n = c.accepted;
        (batch * n, batch * c.nfe, c.nfe, (n, n))
    };
    let worst_err = worst_error(&sol.states[0], reference, f.dim());
    let problem = Problem::single(f, &times, sch, stepping.clone(), x0);
    let mut grad_s = f64::INFINITY;
    for _ in 0..REPEAT {
        let start = Instant::now();
        let g = SymplecticAdjoint
            .gradient(&problem, &mut losses::mean_sq_final(f.dim()))
            .expect("gradient");
        grad_s = grad_s.min(start.elapsed().as_secs_f64());
        assert!(g.dx0.iter().all(|v| v.is_finite()));
    }
    Row {
        steps,
        evals,
        calls,
        min_max,
        worst_err,
        forward_s,
        grad_s,
    }
}

fn main() {
    let batch: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    println!("CPU: {}", machine::cpu());
    println!("load: {}", machine::uptime());
    let cfg = MlpConfig {
        dim: 2,
        hidden: vec![32, 32],
        activation: Activation::Tanh,
        time_input: true,
    };
    let f = RateScaled(Mlp::<f64>::new(cfg, 3).expect("mlp"));
    let x0: Vec<f64> = (0..batch)
        .flat_map(|i| {
            let s = i as f64 / (batch.max(2) - 1) as f64;
            [0.8 - 0.5 * s, -0.3 + 0.4 * s, 100f64.powf(s)]
        })
        .collect();
    let sch = Scheme::<f64>::builtin("dopri5").expect("dopri5");
    let per_batch = Stepping::adaptive(RTOL, ATOL);
    let per_sample = per_batch.clone().per_sample();
    println!(
        "batch {batch}, dx/dt = k·MLP(x, t) (2-32-32-2 tanh), k = 100^(i/(B−1)), dopri5, rtol 1e-6 atol 1e-8, t ∈ [0, 1]"
    );
    let solo: usize = (0..batch)
        .map(|i| {
            let row = &x0[3 * i..3 * i + 3];
            solver::solve(&f, &sch, &per_batch, &[0.0, 1.0], row)
                .expect("solo")
                .counters
                .accepted
        })
        .sum();
    // The wrapper's VJPs against backprop on a few samples (both per-sample, same grids).
    let few = &x0[..3 * batch.min(16)];
    let check = Problem::single(&f, &[0.0, 1.0], &sch, per_sample.clone(), few);
    let a = SymplecticAdjoint
        .gradient(&check, &mut losses::mean_sq_final(3))
        .expect("symplectic");
    let bp = Backprop
        .gradient(&check, &mut losses::mean_sq_final(3))
        .expect("backprop");
    let scale = bp.dtheta[0].iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = a.dtheta[0]
        .iter()
        .zip(&bp.dtheta[0])
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(diff <= 1e-10 * scale, "symplectic vs backprop: {diff:e}");
    let tight = Stepping::adaptive(1e-12, 1e-14).per_sample();
    let reference = solver::solve(&f, &sch, &tight, &[0.0, 1.0], &x0).expect("reference");
    let b = measure(&f, &sch, &per_batch, &x0, &reference.states[0]);
    let s = measure(&f, &sch, &per_sample, &x0, &reference.states[0]);
    println!(
        "| step control | sample-steps | sample-evals | batched eval calls | steps of one sample (min–max) | worst sample's error (tolerance units) | forward s | gradient s (symplectic) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, r) in [("per batch", &b), ("per sample", &s)] {
        println!(
            "| {name} | {} | {} | {} | {}–{} | {:.2} | {:.4} | {:.4} |",
            r.steps, r.evals, r.calls, r.min_max.0, r.min_max.1, r.worst_err, r.forward_s, r.grad_s
        );
    }
    println!(
        "sum of solo runs: {solo} sample-steps; per-sample / solo = {:.4}",
        s.steps as f64 / solo as f64
    );
    assert!(
        s.steps as f64 <= 1.1 * solo as f64,
        "per-sample steps exceed 1.1× the solo sum"
    );
}
