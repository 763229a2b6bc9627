//! CNF and energy models run by the interpreter: their VJPs (second-order AD inside) against
//! central differences of `eval`, and the gradient methods on them: the exact methods against
//! `Backprop` (≤ 1e-12) and against central differences of the discrete solution.

use crate::common::*;
use symplode_codegen::ad::{LinearOp, Trace};
use symplode_codegen::ir::{Activation, Graph, GraphBuilder, UnaryOp};
use symplode_runtime::grad::Problem;
use symplode_runtime::interp::{Interpreted, cnf, energy};
use symplode_runtime::rng::Rng;
use symplode_runtime::{Backprop, Dynamics, Stepping, SymplecticAdjoint};

fn random_params(n: usize, scale: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| scale * rng.uniform_range(-1.0, 1.0))
        .collect()
}

/// A 2-D CNF on FFJORD's ConcatSquash net 2 → 8 → 8 → 2; Hutchinson noise for `batch` rows.
fn small_cnf(trace: Trace, batch: usize) -> Interpreted<f64> {
    let f = Graph::concat_squash_mlp(2, &[8, 8], Activation::Tanh).unwrap();
    let p = random_params(f.param_len(), 0.5, 21);
    let mut m = cnf(&f, trace, p).unwrap();
    if trace == Trace::Hutchinson {
        let mut rng = Rng::new(5);
        let eps: Vec<f64> = (0..batch * 2).map(|_| rng.normal()).collect();
        m.set_aux(1, &eps).unwrap();
    }
    m
}

/// A conv energy on a periodic grid of 8 points: `H = Σ ½ (c(z)² + z²)` with
/// `c = conv(tanh(conv(z)))` (1 → 2 → 1 channels, kernel 3).
fn energy_graph() -> Graph {
    let n = 8;
    let mut b = GraphBuilder::new();
    let z = b.input("z", n).unwrap();
    let h = b
        .conv1d_layer(z, "conv0", n, 2, 3, Activation::Tanh, true)
        .unwrap();
    let c = b
        .conv1d_layer(h, "conv1", n, 1, 3, Activation::Identity, true)
        .unwrap();
    let c2 = b.unary(UnaryOp::Square, c).unwrap();
    let z2 = b.unary(UnaryOp::Square, z).unwrap();
    let s = b.add(c2, z2).unwrap();
    let e = b.scale(s, 0.5).unwrap();
    b.finish(&[e]).unwrap()
}

fn small_energy(op: &LinearOp) -> Interpreted<f64> {
    let h = energy_graph();
    let p = random_params(h.param_len(), 0.5, 17);
    energy(&h, op, p).unwrap()
}

/// ⟨λ, f(x)⟩.
fn phi(m: &Interpreted<f64>, t: f64, x: &[f64], lam: &[f64]) -> f64 {
    let mut dx = vec![0.0; x.len()];
    let mut scratch = vec![0.0; m.scratch_len(x.len() / m.dim())];
    m.eval(t, x, &mut dx, &mut scratch);
    dx.iter().zip(lam).map(|(a, b)| a * b).sum()
}

/// vjp and the taped path against central differences of `eval`, w.r.t. state and parameters.
fn vjp_matches_fd(m: &Interpreted<f64>, batch: usize, what: &str) {
    let d = m.dim();
    let t = 0.4;
    let x = random_state::<f64>(batch * d, 31);
    let lam = random_state::<f64>(batch * d, 32);
    let mut gx = vec![0.0; batch * d];
    let mut gp = vec![0.0; m.n_params()];
    let mut scratch = vec![f64::NAN; m.scratch_len(batch)];
    m.vjp(t, &x, &lam, &mut gx, &mut gp, &mut scratch);
    let h = 1e-5;
    let mut fx = vec![0.0; x.len()];
    for i in 0..x.len() {
        let (mut a, mut b) = (x.clone(), x.clone());
        a[i] += h;
        b[i] -= h;
        fx[i] = (phi(m, t, &a, &lam) - phi(m, t, &b, &lam)) / (2.0 * h);
    }
    let mut fp = vec![0.0; m.n_params()];
    let mut q = m.clone();
    for j in 0..m.n_params() {
        let p0 = q.params()[j];
        q.params_mut()[j] = p0 + h;
        let a = phi(&q, t, &x, &lam);
        q.params_mut()[j] = p0 - h;
        let b = phi(&q, t, &x, &lam);
        q.params_mut()[j] = p0;
        fp[j] = (a - b) / (2.0 * h);
    }
    assert!(rel(&gx, &fx) < 1e-7, "{what}: gx vs fd {:e}", rel(&gx, &fx));
    assert!(rel(&gp, &fp) < 1e-7, "{what}: gp vs fd {:e}", rel(&gp, &fp));
    // The taped path gives the same.
    let mut tape = vec![f64::NAN; m.tape_len(batch)];
    let mut dx = vec![0.0; batch * d];
    m.eval_taped(t, &x, &mut dx, &mut tape);
    let (mut gx2, mut gp2) = (vec![0.0; batch * d], vec![0.0; m.n_params()]);
    m.backward_taped(t, &x, &tape, &lam, &mut gx2, &mut gp2, &mut scratch);
    assert!(
        rel(&gx2, &gx) < 1e-13,
        "{what}: taped gx {:e}",
        rel(&gx2, &gx)
    );
    assert!(
        rel(&gp2, &gp) < 1e-13,
        "{what}: taped gp {:e}",
        rel(&gp2, &gp)
    );
}

#[test]
fn cnf_vjps_match_finite_differences() {
    vjp_matches_fd(&small_cnf(Trace::Exact, 3), 3, "cnf exact");
    vjp_matches_fd(&small_cnf(Trace::Hutchinson, 3), 3, "cnf hutchinson");
}

#[test]
fn energy_vjps_match_finite_differences() {
    vjp_matches_fd(
        &small_energy(&LinearOp::central_difference(8, 0.125)),
        2,
        "kdv-like",
    );
    vjp_matches_fd(&small_energy(&LinearOp::laplacian(8, 0.5)), 2, "laplacian");
}

/// The exact methods against Backprop, and Backprop against central differences of the
/// discrete solution's loss (fixed steps).
fn methods_exact(m: &Interpreted<f64>, x0: &[f64], what: &str) {
    let sch = scheme::<f64>("rk4");
    let times = [0.0, 0.3, 0.6];
    let stepping = Stepping::fixed(3);
    let problem = Problem::single(m, &times, &sch, stepping.clone(), x0);
    let cot = random_cotangents(&problem, 8);
    let reference = run(&Backprop, &problem, &cot);
    for method in exact_methods::<f64>() {
        let r = run(method.as_ref(), &problem, &cot);
        let err = worst_rel(&problem, &r, &reference);
        assert!(
            err <= 1e-12,
            "{what}: {} vs backprop {err:e}",
            method.name()
        );
    }
    let sym = run(&SymplecticAdjoint, &problem, &cot);
    let loss = |m: &Interpreted<f64>, x0: &[f64]| {
        let p = Problem::single(m, &times, &sch, stepping.clone(), x0);
        run(&Backprop, &p, &cot).loss
    };
    let h = 1e-5;
    let mut fx = vec![0.0; x0.len()];
    for i in 0..x0.len() {
        let (mut a, mut b) = (x0.to_vec(), x0.to_vec());
        a[i] += h;
        b[i] -= h;
        fx[i] = (loss(m, &a) - loss(m, &b)) / (2.0 * h);
    }
    let mut q = m.clone();
    let mut fp = vec![0.0; m.n_params()];
    for j in 0..m.n_params() {
        let p0 = q.params()[j];
        q.params_mut()[j] = p0 + h;
        let a = loss(&q, x0);
        q.params_mut()[j] = p0 - h;
        let b = loss(&q, x0);
        q.params_mut()[j] = p0;
        fp[j] = (a - b) / (2.0 * h);
    }
    let ex = rel(&sym.dx0, &fx);
    let ep = rel(&sym.dtheta[0], &fp);
    assert!(
        ex < 1e-7 && ep < 1e-7,
        "{what}: symplectic vs fd: x0 {ex:e}, θ {ep:e}"
    );
}

#[test]
fn gradient_methods_on_cnf() {
    for trace in [Trace::Exact, Trace::Hutchinson] {
        let m = small_cnf(trace, 3);
        let mut x0 = random_state::<f64>(3 * 3, 41);
        for r in 0..3 {
            x0[r * 3 + 2] = 0.0; // log p starts at 0
        }
        methods_exact(&m, &x0, &format!("cnf {trace:?}"));
    }
}

#[test]
fn gradient_methods_on_energy_model() {
    let m = small_energy(&LinearOp::central_difference(8, 0.5));
    let x0 = random_state::<f64>(2 * 8, 42);
    methods_exact(&m, &x0, "energy");
}

#[test]
fn hutchinson_is_unbiased_for_the_exact_trace_on_average() {
    // The trace estimate's mean over many ε approaches the exact divergence.
    let f = Graph::concat_squash_mlp(2, &[8, 8], Activation::Tanh).unwrap();
    let p = random_params(f.param_len(), 0.5, 21);
    let exact = cnf(&f, Trace::Exact, p.clone()).unwrap();
    let mut hut = cnf(&f, Trace::Hutchinson, p).unwrap();
    let n = 4000;
    let x: Vec<f64> = [0.3, -0.2, 0.0].repeat(n);
    let mut rng = Rng::new(9);
    let eps: Vec<f64> = (0..2 * n)
        .map(|_| if rng.uniform() < 0.5 { -1.0 } else { 1.0 })
        .collect();
    hut.set_aux(1, &eps).unwrap();
    let (mut a, mut b) = (vec![0.0; 3 * n], vec![0.0; 3 * n]);
    let mut s = vec![0.0; exact.scratch_len(n).max(hut.scratch_len(n))];
    exact.eval(0.2, &x, &mut a, &mut s);
    hut.eval(0.2, &x, &mut b, &mut s);
    let mean: f64 = (0..n).map(|r| b[r * 3 + 2]).sum::<f64>() / n as f64;
    assert!(
        (a[2] - mean).abs() < 0.05 * a[2].abs().max(0.1),
        "{} vs {mean}",
        a[2]
    );
    assert_eq!(a[0..2], b[0..2]);
}
