//! The network JIT ([`JitNetwork`]) against the interpreter: eval, VJP and the taped path
//! (≤ 1e-14 relative, and bit-equal) on an MLP, a ConcatSquash CNF (exact trace and
//! Hutchinson) and a conv energy; every generated function passes the verifier; fused chains
//! against a scalar reference at every length 0–19; all five gradient methods against the
//! interpreter (≤ 1e-12), also with `jit_scheme` step kernels attached.
#![cfg(feature = "jit")]

use crate::common::*;
use symplode_codegen::ad::{LinearOp, Trace};
use symplode_codegen::ir::{Activation, Graph, GraphBuilder, UnaryOp};
use symplode_codegen::jit::{FusedOp, FusedSpec, FusedStep, JitFused};
use symplode_codegen::tableau::builtin;
use symplode_runtime::grad::{Problem, losses};
use symplode_runtime::interp::{Interpreted, cnf, energy};
use symplode_runtime::jit::{JitNetwork, JitOptions, jit_scheme};
use symplode_runtime::rng::Rng;
use symplode_runtime::{Dynamics, Scheme};

fn opts() -> JitOptions {
    JitOptions {
        verify: true,
        ..JitOptions::default()
    }
}

fn random_params(n: usize, scale: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| scale * rng.uniform_range(-1.0, 1.0))
        .collect()
}

fn mlp_model() -> Interpreted<f64> {
    let g = Graph::mlp(2, &[16, 16], Activation::Tanh, true).unwrap();
    let p = random_params(g.param_len(), 0.6, 3);
    Interpreted::new(g, p).unwrap()
}

fn cnf_model(trace: Trace, batch: usize) -> Interpreted<f64> {
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

fn energy_model() -> Interpreted<f64> {
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
    let h = b.finish(&[e]).unwrap();
    let p = random_params(h.param_len(), 0.5, 17);
    energy(&h, &LinearOp::laplacian(8, 0.5), p).unwrap()
}

fn check(a: &[f64], b: &[f64], what: &str) {
    let r = rel(a, b);
    assert!(r <= 1e-14, "{what}: rel {r:e}");
}

/// eval, vjp, eval_taped + backward_taped of `net` equal those of `m`.
fn same_as_interpreter(m: &Interpreted<f64>, net: &JitNetwork<f64>, batch: usize, what: &str) {
    let d = m.dim();
    let n = batch * d;
    let t = 0.3;
    let x = random_state::<f64>(n, 7);
    let lam = random_state::<f64>(n, 8);
    assert_eq!(m.scratch_len(batch), net.scratch_len(batch));
    assert_eq!(m.tape_len(batch), net.tape_len(batch));
    let run = |f: &dyn Dynamics<f64>| {
        let mut scratch = vec![f64::NAN; f.scratch_len(batch)];
        let mut tape = vec![f64::NAN; f.tape_len(batch)];
        let mut dx = vec![0.0; n];
        f.eval(t, &x, &mut dx, &mut scratch);
        let (mut gx, mut gp) = (vec![0.0; n], vec![0.5; f.n_params()]);
        f.vjp(t, &x, &lam, &mut gx, &mut gp, &mut scratch);
        let mut dx2 = vec![0.0; n];
        f.eval_taped(t, &x, &mut dx2, &mut tape);
        let (mut gx2, mut gp2) = (vec![0.0; n], vec![0.5; f.n_params()]);
        f.backward_taped(t, &x, &tape, &lam, &mut gx2, &mut gp2, &mut scratch);
        [dx, gx, gp, dx2, gx2, gp2]
    };
    let a = run(m);
    let b = run(net);
    for (i, name) in [
        "eval",
        "vjp gx",
        "vjp gp",
        "eval_taped",
        "taped gx",
        "taped gp",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            a[i].iter().all(|v| v.is_finite()),
            "{what} {name}: not finite"
        );
        check(&a[i], &b[i], &format!("{what} {name}"));
        // No contraction, same expressions: bit-equal in fact.
        assert_eq!(a[i], b[i], "{what} {name}: not bit-equal");
    }
    // Repeated calls (warm scratch) give the same results.
    let c = run(net);
    assert_eq!(b, c, "{what}: repeated run");
}

fn build(m: &Interpreted<f64>, what: &str) -> JitNetwork<f64> {
    let net = JitNetwork::new(m.clone(), &opts()).unwrap();
    let r = net.report();
    assert!(r.functions.iter().all(|f| f.verified), "{what}");
    eprintln!(
        "{what}: chains {:?}, fused steps {:?}\n{}",
        net.chains(),
        net.fused_steps(),
        r.summary(false)
    );
    net
}

#[test]
fn mlp_matches_the_interpreter() {
    let m = mlp_model();
    let net = build(&m, "mlp");
    // The VJP's two `tanh` derivatives are fused chains.
    assert!(net.chains()[1] >= 2, "{:?}", net.chains());
    for batch in [1, 3, 8, 17] {
        same_as_interpreter(&m, &net, batch, &format!("mlp batch {batch}"));
    }
}

#[test]
fn cnf_and_energy_match_the_interpreter() {
    for batch in [1, 5, 16] {
        for trace in [Trace::Exact, Trace::Hutchinson] {
            let m = cnf_model(trace, batch);
            let net = build(&m, &format!("cnf {trace:?}"));
            assert!(net.fused_steps().iter().sum::<usize>() > 0);
            same_as_interpreter(&m, &net, batch, &format!("cnf {trace:?} batch {batch}"));
        }
    }
    let m = energy_model();
    let net = build(&m, "energy");
    for batch in [1, 4] {
        same_as_interpreter(&m, &net, batch, &format!("energy batch {batch}"));
    }
}

#[test]
fn fused_chains_match_a_scalar_reference() {
    let ops = [
        FusedOp::Neg,
        FusedOp::Square,
        FusedOp::Recip,
        FusedOp::Relu,
        FusedOp::Add,
        FusedOp::Sub,
        FusedOp::Mul,
        FusedOp::Div,
        FusedOp::Scale(0.3),
        FusedOp::TanhGrad,
    ];
    let eval = |op: FusedOp, a: f64, b: f64| match op {
        FusedOp::Neg => -a,
        FusedOp::Square => a * a,
        FusedOp::Recip => 1.0 / a,
        FusedOp::Relu => {
            if a < 0.0 {
                0.0
            } else {
                a
            }
        }
        FusedOp::Add => a + b,
        FusedOp::Sub => a - b,
        FusedOp::Mul => a * b,
        FusedOp::Div => a / b,
        FusedOp::Scale(c) => c * a,
        FusedOp::TanhGrad => a * (1.0 - b * b),
    };
    // Slots 0, 1 inputs; 2 written then read; 3 in place; 4 dead store.
    let mut specs = Vec::new();
    for (i, &op) in ops.iter().enumerate() {
        let o2 = ops[(i + 3) % ops.len()];
        let args = |x: usize, y: usize, op: FusedOp| {
            if op.arity() == 1 { vec![x] } else { vec![x, y] }
        };
        specs.push(FusedSpec {
            name: format!("t{i}"),
            ptrs: 5,
            steps: vec![
                FusedStep {
                    op,
                    args: args(0, 1, op),
                    out: 2,
                    store: true,
                },
                FusedStep {
                    op: o2,
                    args: args(2, 3, o2),
                    out: 4,
                    store: false,
                },
                FusedStep {
                    op: FusedOp::Add,
                    args: vec![4, 3],
                    out: 3,
                    store: true,
                },
            ],
        });
    }
    for unroll in [1, 2, 4] {
        let o = JitOptions { unroll, ..opts() };
        let jit = JitFused::<f64>::compile(&specs, &o).unwrap();
        assert!(jit.report().functions.iter().all(|f| f.verified));
        for (i, &op) in ops.iter().enumerate() {
            let o2 = ops[(i + 3) % ops.len()];
            for n in 0..20 {
                let a = random_state::<f64>(n, 1);
                let b = random_state::<f64>(n, 2);
                let c = random_state::<f64>(n, 3);
                let (mut s0, mut s1, mut s2, mut s3, mut s4) =
                    (a.clone(), b.clone(), vec![0.0; n], c.clone(), vec![7.0; n]);
                jit.kernels()[i].call_slices(&mut [&mut s0, &mut s1, &mut s2, &mut s3, &mut s4], n);
                for e in 0..n {
                    let r2 = eval(op, a[e], b[e]);
                    let r4 = eval(o2, r2, c[e]);
                    let r3 = r4 + c[e];
                    assert_eq!(s2[e].to_bits(), r2.to_bits(), "{op:?} n={n} e={e}");
                    assert_eq!(s3[e].to_bits(), r3.to_bits(), "{op:?}/{o2:?} n={n} e={e}");
                    assert_eq!(s4[e], 7.0, "dead store");
                }
            }
        }
    }
}

/// All five gradient methods on `m` and on its JIT network agree to 1e-12, with the plain
/// scheme and with `jit_scheme` step kernels.
fn gradients_agree(m: &Interpreted<f64>, x0: &[f64], what: &str) {
    let net = JitNetwork::new(m.clone(), &opts()).unwrap();
    let t = builtin("dopri5").unwrap();
    let plain = Scheme::<f64>::new(&t).unwrap();
    let (jit, _) = jit_scheme::<f64>(&t, &opts()).unwrap();
    let d = m.dim();
    for adaptive in [false, true] {
        let stepping = stepping_for("dopri5", adaptive);
        for method in all_methods::<f64>() {
            let run = |f: &dyn Dynamics<f64>, sch: &Scheme<f64>| {
                method
                    .gradient(
                        &Problem::single(f, &[0.0, 0.5, 1.0], sch, stepping.clone(), x0),
                        &mut losses::mean_sq_final(d),
                    )
                    .unwrap_or_else(|e| panic!("{what} {}: {e}", method.name()))
            };
            let a = run(m, &plain);
            let problem = Problem::single(m, &[0.0, 1.0], &plain, stepping.clone(), x0);
            for (sch, label) in [(&plain, "plain"), (&jit, "jit_scheme")] {
                let b = run(&net, sch);
                if label == "plain" {
                    assert_eq!(
                        a.dtheta,
                        b.dtheta,
                        "{what} {}: not bit-equal",
                        method.name()
                    );
                }
                let r = worst_rel(&problem, &a, &b);
                assert!(
                    r <= 1e-12,
                    "{what} adaptive={adaptive} {} {label}: {r:e}",
                    method.name()
                );
            }
        }
    }
}

#[test]
fn five_gradient_methods_agree() {
    let m = mlp_model();
    gradients_agree(&m, &random_state::<f64>(2 * 4, 9), "mlp");
    let m = cnf_model(Trace::Hutchinson, 4);
    gradients_agree(&m, &random_state::<f64>(3 * 4, 9), "cnf");
}

#[test]
fn f32_network_matches() {
    let g = Graph::mlp(2, &[16, 16], Activation::Tanh, true).unwrap();
    let p: Vec<f32> = random_params(g.param_len(), 0.6, 3)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let m = Interpreted::<f32>::new(g, p).unwrap();
    let net = JitNetwork::new(m.clone(), &opts()).unwrap();
    let batch = 9;
    let x = random_state::<f32>(batch * 2, 7);
    let lam = random_state::<f32>(batch * 2, 8);
    let run = |f: &dyn Dynamics<f32>| {
        let mut scratch = vec![0.0; f.scratch_len(batch)];
        let (mut gx, mut gp) = (vec![0.0; batch * 2], vec![0.0; f.n_params()]);
        f.vjp(0.1, &x, &lam, &mut gx, &mut gp, &mut scratch);
        (gx, gp)
    };
    assert_eq!(run(&m), run(&net));
}

/// A JIT-compiled Hutchinson CNF, plain and chunked over threads: every chunk and every row of
/// a per-row-time call reads its own rows of the noise (set for the whole batch of 20 rows;
/// chunks of 8, 8 and 4), so eval, VJP, the taped pair, `eval_at` and `vjp_at` equal the
/// interpreter's to rounding.
#[test]
fn chunked_jit_cnf_reads_its_own_noise_rows() {
    use symplode_runtime::parallel::Chunked;
    let batch = 20;
    let m = cnf_model(Trace::Hutchinson, batch);
    let plain = build(&m, "cnf Hutchinson");
    let chunked = Chunked::new(build(&m, "cnf Hutchinson, chunked"), 8)
        .and_then(|c| c.with_threads(2))
        .unwrap();
    let n = 3 * batch;
    let x = random_state::<f64>(n, 7);
    let lam = random_state::<f64>(n, 8);
    let times: Vec<f64> = (0..batch).map(|r| 0.05 * r as f64).collect();
    let run = |f: &dyn Dynamics<f64>| {
        let mut scratch = vec![f64::NAN; f.scratch_len(batch)];
        let mut tape = vec![f64::NAN; f.tape_len(batch)];
        let (mut dx, mut dx2, mut dx3) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let (mut gx, mut gp) = (vec![0.0; n], vec![0.5; f.n_params()]);
        let (mut gx2, mut gp2) = (vec![0.0; n], vec![0.5; f.n_params()]);
        let (mut gx3, mut gp3) = (vec![0.0; n], vec![0.5; f.n_params()]);
        f.eval(0.3, &x, &mut dx, &mut scratch);
        f.vjp(0.3, &x, &lam, &mut gx, &mut gp, &mut scratch);
        f.eval_taped(0.3, &x, &mut dx2, &mut tape);
        f.backward_taped(0.3, &x, &tape, &lam, &mut gx2, &mut gp2, &mut scratch);
        f.eval_at(&times, &x, &mut dx3, &mut scratch);
        f.vjp_at(&times, &x, &lam, &mut gx3, &mut gp3, &mut scratch);
        [dx, gx, gp, dx2, gx2, gp2, dx3, gx3, gp3]
    };
    // The interpreter runs the per-row times as one batch; the JIT network row by row.
    let want = run(&m);
    for (what, got) in [("JIT", run(&plain)), ("chunked JIT", run(&chunked))] {
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert!(w.iter().all(|v| v.is_finite()), "output {i}: not finite");
            let r = rel(g, w);
            assert!(r <= 1e-13, "{what} CNF, output {i}: rel {r:e}");
        }
    }
}
