//! Per-sample adaptive steps (`Stepping::adaptive(…).per_sample()`): batched per-row-time
//! evaluation against row-by-row evaluation; the per-sample solve against each sample solved
//! alone (states, grids, outputs landing exactly on the output times, step counts); every
//! exact gradient method against the same method on each sample alone, against backprop and
//! against central differences on the frozen per-sample grids; typed errors.

use crate::common::*;
use symplode_runtime::grad::{Component, GradResult, GradientMethod, Outputs, Problem};
use symplode_runtime::grad::{Reversible, SymplecticBinomial};
use symplode_runtime::interp::Interpreted;
use symplode_runtime::models::{Activation, Mlp, MlpConfig};
use symplode_runtime::solver::{self, Solution};
use symplode_runtime::{
    Adjoint, Backprop, CheckpointComponent, CheckpointStep, Dynamics, ParamTensor, Real,
    SolveError, Stepping, SymplecticAdjoint, SymplecticAdjointStored,
};

/// `ẋ = −θ·k·x`, `k̇ = 0`: state `[x, k]`, one rate k per sample, one parameter θ.
struct RateDecay<T>(Vec<T>);

impl<T: Real> Dynamics<T> for RateDecay<T> {
    fn dim(&self) -> usize {
        2
    }
    fn params(&self) -> &[T] {
        &self.0
    }
    fn params_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
    fn param_tensors(&self) -> Vec<ParamTensor> {
        vec![ParamTensor {
            name: "theta".into(),
            shape: vec![1],
            offset: 0,
        }]
    }
    fn scratch_len(&self, _: usize) -> usize {
        0
    }
    fn tape_len(&self, _: usize) -> usize {
        0
    }
    fn eval(&self, _t: T, x: &[T], dx: &mut [T], _: &mut [T]) {
        for (r, o) in x.chunks_exact(2).zip(dx.chunks_exact_mut(2)) {
            o[0] = -self.0[0] * r[1] * r[0];
            o[1] = T::zero();
        }
    }
    fn vjp(&self, _t: T, x: &[T], lam: &[T], gx: &mut [T], gp: &mut [T], _: &mut [T]) {
        for ((r, l), g) in x
            .chunks_exact(2)
            .zip(lam.chunks_exact(2))
            .zip(gx.chunks_exact_mut(2))
        {
            g[0] = -self.0[0] * r[1] * l[0];
            g[1] = -self.0[0] * r[0] * l[0];
            gp[0] += -r[1] * r[0] * l[0];
        }
    }
    fn eval_taped(&self, t: T, x: &[T], dx: &mut [T], _: &mut [T]) {
        self.eval(t, x, dx, &mut []);
    }
    fn backward_taped(
        &self,
        t: T,
        x: &[T],
        _: &[T],
        lam: &[T],
        gx: &mut [T],
        gp: &mut [T],
        _: &mut [T],
    ) {
        self.vjp(t, x, lam, gx, gp, &mut []);
    }
}

/// Rows `[x_i, k_i]` with rates spread geometrically over `[1, k_max]`.
fn rate_rows<T: Real>(batch: usize, k_max: f64) -> Vec<T> {
    (0..batch)
        .flat_map(|i| {
            let f = i as f64 / (batch.max(2) - 1) as f64;
            [T::of(1.0 - 0.3 * f), T::of(k_max.powf(f))]
        })
        .collect()
}

fn per_sample_methods<T: Real>() -> Vec<Box<dyn GradientMethod<T>>> {
    vec![
        Box::new(symplode_runtime::grad::Auto { budget: 1 << 30 }),
        Box::new(Backprop),
        Box::new(CheckpointComponent),
        Box::new(CheckpointStep),
        Box::new(SymplecticAdjoint),
        Box::new(SymplecticAdjointStored),
        Box::new(SymplecticBinomial { checkpoints: 3 }),
        Box::new(Adjoint::default()),
    ]
}

/// A copy of `problem` holding only sample `i` (its row of x0), with per-batch stepping.
fn solo<'a, T: Real>(problem: &Problem<'a, T>, i: usize) -> Problem<'a, T> {
    let d = problem.dim();
    Problem {
        chain: problem
            .chain
            .iter()
            .map(|c| Component {
                dynamics: c.dynamics,
                times: c.times.clone(),
            })
            .collect(),
        scheme: problem.scheme,
        stepping: problem.stepping.per_batch(),
        x0: &problem.x0[i * d..(i + 1) * d],
    }
}

/// Row `i` of every output of `o`.
fn row_of<T: Real>(o: &Outputs<T>, i: usize, d: usize) -> Outputs<T> {
    o.iter()
        .map(|c| {
            let v: Vec<T> = c
                .iter()
                .flat_map(|s| s[i * d..(i + 1) * d].to_vec())
                .collect();
            symplode_runtime::solver::Trajectory::from_vec(v, d).unwrap()
        })
        .collect()
}

/// dx0 and dθ of each sample alone, gathered like a batch result (dθ summed).
fn solo_gradients<T: Real>(
    method: &dyn GradientMethod<T>,
    problem: &Problem<'_, T>,
    cot: &Outputs<T>,
) -> (Vec<f64>, Vec<Vec<f64>>, Vec<GradResult<T>>) {
    let d = problem.dim();
    let mut dx0 = Vec::new();
    let mut dth: Vec<Vec<f64>> = problem
        .chain
        .iter()
        .map(|c| vec![0.0; c.dynamics.n_params()])
        .collect();
    let mut all = Vec::new();
    for i in 0..problem.batch() {
        let p = solo(problem, i);
        let r = run(method, &p, &row_of(cot, i, d));
        dx0.extend(to64(&r.dx0));
        for (a, g) in dth.iter_mut().zip(&r.dtheta) {
            for (x, y) in a.iter_mut().zip(g) {
                *x += y.f64();
            }
        }
        all.push(r);
    }
    (dx0, dth, all)
}

fn worst_vs(r: &GradResult<impl Real>, dx0: &[f64], dth: &[Vec<f64>]) -> f64 {
    let mut w = rel(&to64(&r.dx0), dx0);
    for (a, b) in r.dtheta.iter().zip(dth) {
        w = w.max(rel(&to64(a), b));
    }
    w
}

#[test]
fn mlp_and_interpreter_eval_at_match_row_by_row_eval() {
    let cfg = MlpConfig {
        dim: 3,
        hidden: vec![16, 16],
        activation: Activation::Tanh,
        time_input: true,
    };
    let mlp = Mlp::<f64>::new(cfg.clone(), 7).unwrap();
    let interp = Interpreted::new(cfg.graph().unwrap(), mlp.params().to_vec()).unwrap();
    let batch = 9;
    let x = random_state::<f64>(batch * 3, 1);
    let t: Vec<f64> = (0..batch).map(|i| 0.1 + 0.37 * i as f64).collect();
    for f in [&mlp as &dyn Dynamics<f64>, &interp] {
        let mut scratch = vec![0.0; f.scratch_len(batch)];
        let mut dx = vec![0.0; batch * 3];
        f.eval_at(&t, &x, &mut dx, &mut scratch);
        let mut want = vec![0.0; batch * 3];
        for i in 0..batch {
            let r = i * 3..(i + 1) * 3;
            f.eval(t[i], &x[r.clone()], &mut want[r], &mut scratch);
        }
        assert!(rel(&dx, &want) <= 1e-14, "{:e}", rel(&dx, &want));
        let lam = random_state::<f64>(batch * 3, 4);
        let (mut gx, mut gp) = (vec![0.0; batch * 3], vec![0.0; f.n_params()]);
        f.vjp_at(&t, &x, &lam, &mut gx, &mut gp, &mut scratch);
        let (mut wx, mut wp) = (vec![0.0; batch * 3], vec![0.0; f.n_params()]);
        for i in 0..batch {
            let r = i * 3..(i + 1) * 3;
            f.vjp(
                t[i],
                &x[r.clone()],
                &lam[r.clone()],
                &mut wx[r],
                &mut wp,
                &mut scratch,
            );
        }
        assert!(rel(&gx, &wx) <= 1e-14, "vjp_at gx {:e}", rel(&gx, &wx));
        assert!(rel(&gp, &wp) <= 1e-13, "vjp_at gp {:e}", rel(&gp, &wp));
        // The times matter: one shared time gives a different answer.
        let mut shared = vec![0.0; batch * 3];
        f.eval(t[0], &x, &mut shared, &mut scratch);
        assert!(rel(&shared, &want) > 1e-6);
    }
}

#[test]
fn chunked_eval_at_and_vjp_at_equal_the_inner_model() {
    let inner = mlp::<f64>(2, 8, 6);
    let chunked = symplode_runtime::parallel::Chunked::new(mlp::<f64>(2, 8, 6), 3)
        .unwrap()
        .with_threads(2)
        .unwrap();
    let batch = 10; // 4 chunks, the last one short
    let x = random_state::<f64>(batch * 2, 8);
    let t: Vec<f64> = (0..batch).map(|i| 0.2 * i as f64).collect();
    let mut want = vec![0.0; batch * 2];
    inner.eval_at(&t, &x, &mut want, &mut vec![0.0; inner.scratch_len(batch)]);
    let mut got = vec![0.0; batch * 2];
    chunked.eval_at(&t, &x, &mut got, &mut vec![0.0; chunked.scratch_len(batch)]);
    assert!(rel(&got, &want) <= 1e-15, "{:e}", rel(&got, &want));
    let lam = random_state::<f64>(batch * 2, 9);
    let (mut wx, mut wp) = (vec![0.0; batch * 2], vec![0.0; inner.n_params()]);
    inner.vjp_at(
        &t,
        &x,
        &lam,
        &mut wx,
        &mut wp,
        &mut vec![0.0; inner.scratch_len(batch)],
    );
    let (mut gx, mut gp) = (vec![0.0; batch * 2], vec![0.0; inner.n_params()]);
    let mut scratch = vec![0.0; chunked.scratch_len(batch)];
    chunked.vjp_at(&t, &x, &lam, &mut gx, &mut gp, &mut scratch);
    assert!(rel(&gx, &wx) <= 1e-15, "vjp_at gx {:e}", rel(&gx, &wx));
    assert!(rel(&gp, &wp) <= 1e-13, "vjp_at gp {:e}", rel(&gp, &wp));
}

fn check_solve_matches_solo<T: Real>(f: &dyn Dynamics<T>, x0: &[T], times: &[f64], tol: f64) {
    let sch = scheme::<T>("dopri5");
    let stepping = Stepping::adaptive(1e-7, 1e-9).per_sample();
    let sol: Solution<T> = solver::solve(f, &sch, &stepping, times, x0).unwrap();
    let d = f.dim();
    let batch = x0.len() / d;
    assert_eq!(sol.sample_grids.len(), batch);
    let mut solo_steps = 0;
    for i in 0..batch {
        let r = i * d..(i + 1) * d;
        let one = solver::solve(f, &sch, &stepping.per_batch(), times, &x0[r.clone()]).unwrap();
        let g = &sol.sample_grids[i];
        assert_eq!(g, &one.grid, "sample {i}: grid differs from its solo solve");
        for (k, &n) in g.output_at.iter().enumerate() {
            assert_eq!(
                g.t[n],
                times[k + 1],
                "sample {i} lands exactly on output {k}"
            );
            let a = to64(&sol.states[k][r.clone()]);
            assert!(
                rel(&a, &to64(&one.states[k])) <= tol,
                "sample {i} output {k}"
            );
        }
        solo_steps += one.counters.accepted;
    }
    let summed: usize = sol.sample_grids.iter().map(|g| g.steps()).sum();
    assert_eq!(sol.counters.accepted, summed);
    assert!(
        summed as f64 <= 1.1 * solo_steps as f64,
        "{summed} vs solo {solo_steps}"
    );
}

#[test]
fn per_sample_solve_equals_each_sample_alone() {
    let times = [0.0, 0.4, 1.0, 1.7];
    check_solve_matches_solo(&RateDecay(vec![1.0f64]), &rate_rows(12, 100.0), &times, 0.0);
    check_solve_matches_solo(&RateDecay(vec![1.0f32]), &rate_rows(12, 100.0), &times, 0.0);
    let net = mlp::<f64>(2, 8, 3);
    let mut x0 = random_state::<f64>(2 * 10, 5);
    for (i, v) in x0.iter_mut().enumerate() {
        *v *= 1.0 + (i / 2) as f64; // samples of different sizes take different steps
    }
    check_solve_matches_solo(&net, &x0, &times, 1e-13);
}

#[test]
fn samples_take_their_own_steps() {
    let f = RateDecay(vec![1.0f64]);
    let x0 = rate_rows::<f64>(16, 100.0);
    let sch = scheme::<f64>("dopri5");
    let times = [0.0, 1.0];
    let per = Stepping::adaptive(1e-6, 1e-9).per_sample();
    let sol = solver::solve(&f, &sch, &per, &times, &x0).unwrap();
    let steps: Vec<usize> = sol.sample_grids.iter().map(|g| g.steps()).collect();
    // The slow sample (k = 1) needs far fewer steps than the fast one (k = 100): shared step
    // sizes would give every sample the same count.
    assert!(steps[0] * 5 < steps[15], "{steps:?}");
    let batch = solver::solve(&f, &sch, &per.per_batch(), &times, &x0).unwrap();
    let summed: usize = steps.iter().sum();
    assert!(
        summed * 2 < 16 * batch.grid.steps(),
        "{summed} vs {}",
        16 * batch.grid.steps()
    );
    // One batched evaluation per stage of a round, not one per sample.
    assert!(
        sol.counters.eval_calls * 4 < sol.counters.nfe,
        "{:?}",
        sol.counters
    );
}

fn check_gradients<T: Real>(problem: &Problem<'_, T>, solo_tol: f64, bp_tol: f64) {
    let cot = random_cotangents(problem, 11);
    let bp = run(&Backprop, problem, &cot);
    for m in per_sample_methods::<T>() {
        let r = run(m.as_ref(), problem, &cot);
        assert_eq!(r.sample_grids.len(), problem.chain.len());
        let (dx0, dth, solos) = solo_gradients(m.as_ref(), problem, &cot);
        let w = worst_vs(&r, &dx0, &dth);
        assert!(w <= solo_tol, "{}: vs samples alone {w:e}", m.name());
        for (i, s) in solos.iter().enumerate() {
            for (c, g) in s.grids.iter().enumerate() {
                assert_eq!(&r.sample_grids[c][i], g, "{} sample {i}", m.name());
            }
        }
        if m.name() != "adjoint" {
            let w = worst_rel(problem, &r, &bp);
            assert!(w <= bp_tol, "{}: vs backprop {w:e}", m.name());
        }
    }
}

#[test]
fn every_method_equals_samples_alone_and_backprop_f64() {
    let nets = [mlp::<f64>(2, 8, 1), mlp::<f64>(2, 8, 2)];
    let sch = scheme::<f64>("dopri5");
    let mut x0 = random_state::<f64>(2 * 6, 9);
    for (i, v) in x0.iter_mut().enumerate() {
        *v *= 1.0 + (i / 2) as f64;
    }
    let p = chain(
        &nets,
        &sch,
        Stepping::adaptive(1e-7, 1e-9).per_sample(),
        &x0,
    );
    check_gradients(&p, 1e-13, 1e-12);
    let f = RateDecay(vec![0.8f64]);
    let x0 = rate_rows::<f64>(8, 100.0);
    let sch = scheme::<f64>("bosh3");
    let p = Problem::single(
        &f,
        &[0.0, 0.5, 1.0],
        &sch,
        Stepping::adaptive(1e-6, 1e-9).per_sample(),
        &x0,
    );
    check_gradients(&p, 1e-13, 1e-12);
}

#[test]
fn every_method_equals_samples_alone_and_backprop_f32() {
    let nets = [mlp::<f32>(2, 8, 1)];
    let sch = scheme::<f32>("tsit5");
    let mut x0 = random_state::<f32>(2 * 6, 9);
    for (i, v) in x0.iter_mut().enumerate() {
        *v *= 1.0 + (i / 2) as f32;
    }
    let p = Problem::single(
        &nets[0],
        &[0.0, 0.6, 1.0],
        &sch,
        Stepping::adaptive(1e-4, 1e-6).per_sample(),
        &x0,
    );
    check_gradients(&p, 1e-6, 1e-4);
}

#[test]
fn per_sample_gradient_matches_central_differences_on_frozen_grids() {
    let net = mlp::<f64>(2, 6, 4);
    let sch = scheme::<f64>("dopri5");
    let times = [0.0, 0.5, 1.2];
    let mut x0 = random_state::<f64>(2 * 4, 2);
    for (i, v) in x0.iter_mut().enumerate() {
        *v *= 1.0 + (i / 2) as f64;
    }
    let stepping = Stepping::adaptive(1e-6, 1e-9).per_sample();
    let p = Problem::single(&net, &times, &sch, stepping.clone(), &x0);
    let cot = random_cotangents(&p, 3);
    let g = run(&SymplecticAdjoint, &p, &cot);
    let grids = g.sample_grids[0].clone();
    // L(θ, x0) = Σ_i Σ_k cot_ik · x_i(t_k) with each sample replayed on its own grid.
    let loss = |f: &Mlp<f64>, x0: &[f64]| -> f64 {
        let mut l = 0.0;
        for (i, grid) in grids.iter().enumerate() {
            let r = i * 2..(i + 1) * 2;
            let s = solver::replay(f, &sch, &stepping.per_batch(), &times, grid, &x0[r.clone()])
                .unwrap();
            for k in 0..times.len() - 1 {
                l += s.states[k]
                    .iter()
                    .zip(&cot[0][k][r.clone()])
                    .map(|(a, b)| a * b)
                    .sum::<f64>();
            }
        }
        l
    };
    let eps = 1e-6;
    let mut worst = 0.0f64;
    for j in [0, 5, 17, net.n_params() - 1] {
        let mut a = net.clone();
        a.params_mut()[j] += eps;
        let mut b = net.clone();
        b.params_mut()[j] -= eps;
        let fd = (loss(&a, &x0) - loss(&b, &x0)) / (2.0 * eps);
        worst = worst.max((fd - g.dtheta[0][j]).abs() / fd.abs().max(1e-3));
    }
    for j in 0..x0.len() {
        let mut a = x0.clone();
        a[j] += eps;
        let mut b = x0.clone();
        b[j] -= eps;
        let fd = (loss(&net, &a) - loss(&net, &b)) / (2.0 * eps);
        worst = worst.max((fd - g.dx0[j]).abs() / fd.abs().max(1e-3));
    }
    assert!(worst < 1e-7, "central differences {worst:e}");
}

#[test]
fn errors_are_typed_and_name_the_sample() {
    let f = RateDecay(vec![1.0f64]);
    let x0 = rate_rows::<f64>(4, 1000.0);
    let sch = scheme::<f64>("dopri5");
    let mut s = Stepping::adaptive(1e-8, 1e-10).per_sample();
    if let Stepping::Adaptive(a) = &mut s {
        a.max_steps = 40;
    }
    let e = solver::solve(&f, &sch, &s, &[0.0, 1.0], &x0).unwrap_err();
    assert!(
        matches!(&e, SolveError::InSample { sample, source }
            if *sample > 0 && matches!(**source, SolveError::TooManySteps { .. })),
        "{e}"
    );
    let p = Problem::single(
        &f,
        &[0.0, 1.0],
        &sch,
        Stepping::adaptive(1e-6, 1e-8).per_sample(),
        &x0,
    );
    let r = GradientMethod::<f64>::forward(&Reversible { lambda: 0.5 }, &p);
    assert!(matches!(
        r,
        Err(SolveError::BadOption {
            name: "stepping",
            ..
        })
    ));
}
