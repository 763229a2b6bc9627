//! The network JIT's GEMM path ([`JitNetwork`] in `NetworkMode::Segments`): generated
//! functions that call the runtime's GEMM and `tanh` through function pointers, with bias
//! rows, activation derivatives and the rest of the elementwise work inline.
//!
//! Checks: every generated function passes Cranelift's verifier; the dense layers really
//! are in generated code (GEMM calls counted); eval, vjp, eval_taped and backward_taped
//! are bit-equal to the interpreter (`Interpreted`) in f64 and f32 on the MLP
//! `[x, t] → 64 tanh → 64 tanh → 2`, MLPs with other activations (ReLU inline, its
//! derivative `step`, softplus, sigmoid, SiLU fall back to the interpreter between segments) and a ConcatSquash CNF
//! (`cnf_dynamics` on `Graph::concat_squash_mlp`, exact trace and Hutchinson), at batch
//! sizes 1, 7 and 256; the five gradient methods agree with the interpreter.
#![cfg(feature = "jit")]

use crate::common::*;
use symplode_codegen::ad::Trace;
use symplode_codegen::ir::{Activation, Graph};
use symplode_codegen::tableau::builtin;
use symplode_runtime::grad::{Problem, losses};
use symplode_runtime::interp::{Interpreted, cnf};
use symplode_runtime::jit::{JitNetwork, JitOptions, JitReal, NetworkMode};
use symplode_runtime::real::Real;
use symplode_runtime::rng::Rng;
use symplode_runtime::{Dynamics, Scheme};

const BATCHES: [usize; 3] = [1, 7, 256];

fn opts() -> JitOptions {
    JitOptions {
        verify: true,
        ..JitOptions::default()
    }
}

fn random_params<T: Real>(n: usize, scale: f64, seed: u64) -> Vec<T> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| T::of(scale * rng.uniform_range(-1.0, 1.0)))
        .collect()
}

fn mlp<T: Real>(act: Activation, hidden: &[usize]) -> Interpreted<T> {
    let g = Graph::mlp(2, hidden, act, true).unwrap();
    let p = random_params(g.param_len(), 0.3, 3);
    Interpreted::new(g, p).unwrap()
}

fn cnf_model<T: Real>(trace: Trace, batch: usize) -> Interpreted<T> {
    let f = Graph::concat_squash_mlp(2, &[32, 32], Activation::Tanh).unwrap();
    let p = random_params(f.param_len(), 0.4, 21);
    let mut m = cnf(&f, trace, p).unwrap();
    if trace == Trace::Hutchinson {
        let mut rng = Rng::new(5);
        let eps: Vec<T> = (0..batch * 2).map(|_| T::of(rng.normal())).collect();
        m.set_aux(1, &eps).unwrap();
    }
    m
}

/// Builds the network, checks the verifier ran on every function and that segments exist.
fn build<T: JitReal>(m: &Interpreted<T>, what: &str) -> JitNetwork<T> {
    let net = JitNetwork::new(m.clone(), &opts()).unwrap();
    let r = net.report();
    assert!(!r.functions.is_empty(), "{what}: nothing generated");
    assert!(
        r.functions.iter().all(|f| f.verified),
        "{what}: unverified function"
    );
    assert_eq!(net.mode(), NetworkMode::Segments);
    assert_eq!(r.functions.len(), net.segments().iter().sum::<usize>());
    net
}

/// eval, vjp, eval_taped + backward_taped outputs of `f`.
fn run<T: Real>(f: &dyn Dynamics<T>, batch: usize) -> [Vec<T>; 6] {
    let d = f.dim();
    let n = batch * d;
    let t = T::of(0.3);
    let x = random_state::<T>(n, 7);
    let lam = random_state::<T>(n, 8);
    let mut scratch = vec![T::nan(); f.scratch_len(batch)];
    let mut tape = vec![T::nan(); f.tape_len(batch)];
    let mut dx = vec![T::zero(); n];
    f.eval(t, &x, &mut dx, &mut scratch);
    let (mut gx, mut gp) = (vec![T::zero(); n], vec![T::of(0.5); f.n_params()]);
    f.vjp(t, &x, &lam, &mut gx, &mut gp, &mut scratch);
    let mut dx2 = vec![T::zero(); n];
    f.eval_taped(t, &x, &mut dx2, &mut tape);
    let (mut gx2, mut gp2) = (vec![T::zero(); n], vec![T::of(0.5); f.n_params()]);
    f.backward_taped(t, &x, &tape, &lam, &mut gx2, &mut gp2, &mut scratch);
    [dx, gx, gp, dx2, gx2, gp2]
}

/// The four entry points of `net` equal the interpreter's bit for bit at every batch size.
fn same_as_interpreter<T: JitReal>(m: &Interpreted<T>, net: &JitNetwork<T>, what: &str) {
    for batch in BATCHES {
        let a = run::<T>(m, batch);
        let b = run::<T>(net, batch);
        for (i, name) in [
            "eval", "vjp gx", "vjp gp", "taped dx", "taped gx", "taped gp",
        ]
        .iter()
        .enumerate()
        {
            assert!(
                a[i].iter().all(|v| v.is_finite()),
                "{what} batch {batch} {name}: not finite"
            );
            // Same GEMM with the same views, same elementwise expressions, no contraction.
            assert_eq!(a[i], b[i], "{what} batch {batch} {name}: not bit-equal");
        }
        assert_eq!(
            b,
            run::<T>(net, batch),
            "{what} batch {batch}: repeated run"
        );
    }
}

fn mlp_case<T: JitReal>(what: &str) {
    let m = mlp::<T>(Activation::Tanh, &[64, 64]);
    let net = build(&m, what);
    // Every step of every program is generated code: one function per program, with 3
    // GEMMs + 2 tanh calls in eval, and the whole VJP (3 forward GEMMs, 2 tanh, 5 backward
    // GEMMs incl. weight gradients) in one function.
    assert_eq!(net.segments(), [1, 1, 1, 1], "{what}");
    assert_eq!(
        net.fused_steps(),
        net.steps(),
        "{what}: interpreter fallback"
    );
    let calls = net.calls();
    assert_eq!(calls[0], 5, "{what}: eval calls {calls:?}");
    assert!(calls[1] >= 10, "{what}: vjp calls {calls:?}");
    assert!(
        calls[2] >= 5 && calls[3] >= 5,
        "{what}: taped calls {calls:?}"
    );
    same_as_interpreter(&m, &net, what);
}

#[test]
fn mlp_64_tanh_f64_is_one_function_per_program_and_bit_equal() {
    mlp_case::<f64>("mlp f64");
}

#[test]
fn mlp_64_tanh_f32_is_one_function_per_program_and_bit_equal() {
    mlp_case::<f32>("mlp f32");
}

#[test]
fn other_activations_are_bit_equal() {
    for act in [
        Activation::Relu,
        Activation::Softplus,
        Activation::Sigmoid,
        Activation::Silu,
    ] {
        let what = format!("mlp {act:?}");
        let m = mlp::<f64>(act, &[64, 64]);
        let net = build(&m, &what);
        assert!(net.calls()[0] >= 3, "{what}: GEMMs not generated");
        same_as_interpreter(&m, &net, &what);
        if act == Activation::Relu {
            // ReLU is inline: nothing of eval falls back (its derivative, `step`, does).
            assert_eq!(net.fused_steps()[0], net.steps()[0], "{what}");
        }
        let m = mlp::<f32>(act, &[16]);
        let net = build(&m, &what);
        same_as_interpreter(&m, &net, &format!("{what} f32"));
    }
}

#[test]
fn concat_squash_cnf_is_bit_equal() {
    for trace in [Trace::Exact, Trace::Hutchinson] {
        for batch in BATCHES {
            let what = format!("cnf {trace:?} (noise for batch {batch})");
            let m = cnf_model::<f64>(trace, batch);
            let net = build(&m, &what);
            assert!(
                net.calls().iter().all(|&c| c > 0),
                "{what}: {:?}",
                net.calls()
            );
            if trace == Trace::Exact {
                same_as_interpreter(&m, &net, &what);
            } else {
                // Hutchinson noise is set for one batch size.
                let a = run::<f64>(&m, batch);
                let b = run::<f64>(&net, batch);
                assert_eq!(a, b, "{what}");
                assert!(a.iter().flatten().all(|v| v.is_finite()), "{what}");
            }
        }
    }
    let m = cnf_model::<f32>(Trace::Exact, 1);
    let net = build(&m, "cnf f32");
    same_as_interpreter(&m, &net, "cnf f32");
}

#[test]
fn chains_mode_still_bit_equal() {
    let m = mlp::<f64>(Activation::Tanh, &[64, 64]);
    let net = JitNetwork::with_mode(m.clone(), &opts(), NetworkMode::Chains).unwrap();
    assert_eq!(net.calls(), [0; 4]);
    assert!(net.report().functions.iter().all(|f| f.verified));
    same_as_interpreter(&m, &net, "chains mode");
}

/// All five gradient methods on `m` and on its JIT network are bit-equal (dopri5, fixed and
/// adaptive).
fn gradients_agree(m: &Interpreted<f64>, x0: &[f64], what: &str) {
    let net = JitNetwork::new(m.clone(), &opts()).unwrap();
    let t = builtin("dopri5").unwrap();
    let plain = Scheme::<f64>::new(&t).unwrap();
    let d = m.dim();
    for adaptive in [false, true] {
        let stepping = stepping_for("dopri5", adaptive);
        for method in all_methods::<f64>() {
            let go = |f: &dyn Dynamics<f64>| {
                method
                    .gradient(
                        &Problem::single(f, &[0.0, 0.5, 1.0], &plain, stepping.clone(), x0),
                        &mut losses::mean_sq_final(d),
                    )
                    .unwrap_or_else(|e| panic!("{what} {}: {e}", method.name()))
            };
            let (a, b) = (go(m), go(&net));
            assert_eq!(a.loss, b.loss, "{what} {}: loss", method.name());
            assert_eq!(a.dx0, b.dx0, "{what} {}: dx0", method.name());
            assert_eq!(a.dtheta, b.dtheta, "{what} {}: dθ", method.name());
            let problem = Problem::single(m, &[0.0, 1.0], &plain, stepping.clone(), x0);
            assert!(worst_rel(&problem, &a, &b) <= 1e-13, "{what}");
        }
    }
}

#[test]
fn five_gradient_methods_agree_with_the_interpreter() {
    let m = mlp::<f64>(Activation::Tanh, &[64, 64]);
    gradients_agree(&m, &random_state::<f64>(2 * 7, 9), "mlp");
    let m = cnf_model::<f64>(Trace::Hutchinson, 7);
    gradients_agree(&m, &random_state::<f64>(3 * 7, 9), "cnf");
}
