//! 2-D convolutions on the runtime: the interpreter's im2col + GEMM kernels against the
//! codegen reference evaluator (direct loops) for eval, VJP and the taped path of an image
//! network (every stride/padding/kernel case of a multiscale step, squeeze, time channel);
//! the network JIT bit-equal to the interpreter (convolutions fall back to the interpreter's
//! kernels); and on a small convolutional CNF every exact gradient method equal to backprop
//! to 1e-12 (f64), fixed and adaptive steps.

use crate::common::*;
use symplode_codegen::ad::{Trace, Wrt, vjp};
use symplode_codegen::ir::eval::evaluate_f64;
use symplode_codegen::ir::{Activation, Graph, GraphBuilder, SqueezeShape, UnaryOp};
use symplode_runtime::Dynamics;
use symplode_runtime::grad::{Backprop, GradientMethod, Problem, losses};
use symplode_runtime::interp::{Interpreted, cnf};
use symplode_runtime::rng::Rng;

fn random_params(n: usize, scale: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| scale * rng.uniform_range(-1.0, 1.0))
        .collect()
}

/// A vector field on a `1 × 4 × 6` image: squeeze to `4 × 2 × 3`, FFJORD's `ConcatConv2d`
/// (3×3, padding 1) with softplus, a 2×2 convolution with padding 1 (growing the image), a
/// strided one, a 2×2 valid one back to `4 × 2 × 3`, unsqueeze.
fn image_field() -> Graph {
    let mut b = GraphBuilder::new();
    let x = b.input("x", 24).unwrap();
    let sq = SqueezeShape { c: 1, h: 4, w: 6 };
    let z = b.squeeze(x, sq).unwrap();
    let (h, img) = b.concat_conv2d(z, "l0", (4, 2, 3), 5, (3, 1, 1)).unwrap();
    let h = b.unary(UnaryOp::Softplus, h).unwrap();
    let (h1, img1) = b
        .conv2d_layer(h, "l1", img, 3, (2, 1, 1), Activation::Tanh, true)
        .unwrap();
    let (h2, img2) = b
        .conv2d_layer(h1, "l2", img1, 3, (3, 2, 1), Activation::Tanh, true)
        .unwrap();
    assert_eq!(img2, (3, 2, 2));
    let (h3, img3) = b.concat_conv2d(h2, "l3", img2, 4, (2, 1, 1)).unwrap();
    assert_eq!(img3, (4, 3, 3));
    let (h4, img4) = b
        .conv2d_layer(h3, "l4", img3, 4, (2, 1, 0), Activation::Identity, true)
        .unwrap();
    assert_eq!(img4, (4, 2, 2));
    // The per-channel means of the small branch, added to a 3×3 convolution of `h`.
    let (h5, _) = b
        .conv2d_layer(h, "l5", img, 4, (3, 1, 1), Activation::Identity, false)
        .unwrap();
    let s = b.sum_groups(h4, 4).unwrap();
    let s = b.repeat_groups(s, 6).unwrap();
    let y = b.add(h5, s).unwrap();
    let y = b.unsqueeze(y, sq).unwrap();
    b.finish(&[y]).unwrap()
}

fn close(a: &[f64], e: &[f64], what: &str) {
    assert_eq!(a.len(), e.len(), "{what}");
    let r = rel(a, e);
    assert!(r <= 1e-13, "{what}: rel {r:e}");
}

#[test]
fn interpreter_matches_the_reference_evaluator() {
    let g = image_field();
    let p = random_params(g.param_len(), 0.5, 3);
    let m = Interpreted::new(g.clone(), p.clone()).unwrap();
    let v = vjp(&g, &Wrt::state_and_params(&g)).unwrap();
    for batch in [1, 3, 8] {
        let n = batch * 24;
        let x = random_state::<f64>(n, 7);
        let lam = random_state::<f64>(n, 8);
        let t = 0.3;
        let mut scratch = vec![f64::NAN; m.scratch_len(batch)];
        let mut tape = vec![f64::NAN; m.tape_len(batch)];
        let mut dx = vec![0.0; n];
        m.eval(t, &x, &mut dx, &mut scratch);
        let r = evaluate_f64(&g, batch, &[&x], t, &p).unwrap();
        close(&dx, &r[0], &format!("eval batch {batch}"));
        let (mut gx, mut gp) = (vec![0.0; n], vec![0.0; p.len()]);
        m.vjp(t, &x, &lam, &mut gx, &mut gp, &mut scratch);
        let r = evaluate_f64(&v, batch, &[&x, &lam], t, &p).unwrap();
        close(&gx, &r[1], &format!("vjp gx batch {batch}"));
        close(&gp, &r[2..].concat(), &format!("vjp gp batch {batch}"));
        let mut dx2 = vec![0.0; n];
        m.eval_taped(t, &x, &mut dx2, &mut tape);
        assert_eq!(dx, dx2, "taped eval");
        let (mut gx2, mut gp2) = (vec![0.0; n], vec![0.0; p.len()]);
        m.backward_taped(t, &x, &tape, &lam, &mut gx2, &mut gp2, &mut scratch);
        close(&gx2, &r[1], &format!("taped gx batch {batch}"));
        close(&gp2, &r[2..].concat(), &format!("taped gp batch {batch}"));
    }
}

/// A small convolutional CNF (Hutchinson trace with a fixed ε) on `1 × 4 × 6` images.
fn conv_cnf(batch: usize) -> Interpreted<f64> {
    let f = image_field();
    let p = random_params(f.param_len(), 0.4, 21);
    let mut m = cnf(&f, Trace::Hutchinson, p).unwrap();
    let mut rng = Rng::new(5);
    let eps: Vec<f64> = (0..batch * 24).map(|_| rng.normal()).collect();
    m.set_aux(1, &eps).unwrap();
    m
}

#[test]
fn exact_methods_equal_backprop_on_a_conv_cnf() {
    let batch = 3;
    let m = conv_cnf(batch);
    let d = m.dim();
    let x0 = random_state::<f64>(batch * d, 9);
    let sch = scheme::<f64>("dopri5");
    for adaptive in [false, true] {
        let stepping = stepping_for("dopri5", adaptive);
        let problem = Problem::single(&m, &[0.0, 0.5], &sch, stepping.clone(), &x0);
        let reference = Backprop
            .gradient(&problem, &mut losses::mean_sq_final(d))
            .unwrap();
        assert!(reference.dtheta[0].iter().all(|v| v.is_finite()));
        for method in exact_methods::<f64>() {
            let g = method
                .gradient(&problem, &mut losses::mean_sq_final(d))
                .unwrap();
            let r = worst_rel(&problem, &reference, &g);
            assert!(
                r <= 1e-12,
                "adaptive={adaptive} {}: {r:e} from backprop",
                method.name()
            );
        }
    }
}

#[cfg(feature = "jit")]
#[test]
fn the_network_jit_is_bit_equal() {
    use symplode_runtime::jit::{JitNetwork, JitOptions};
    let batch = 4;
    let m = conv_cnf(batch);
    let opts = JitOptions {
        verify: true,
        ..JitOptions::default()
    };
    let net = JitNetwork::new(m.clone(), &opts).unwrap();
    assert!(net.report().functions.iter().all(|f| f.verified));
    let n = batch * m.dim();
    let x = random_state::<f64>(n, 7);
    let lam = random_state::<f64>(n, 8);
    assert_eq!(m.scratch_len(batch), net.scratch_len(batch));
    assert_eq!(m.tape_len(batch), net.tape_len(batch));
    let run = |f: &dyn Dynamics<f64>| {
        let mut scratch = vec![f64::NAN; f.scratch_len(batch)];
        let mut tape = vec![f64::NAN; f.tape_len(batch)];
        let mut dx = vec![0.0; n];
        f.eval(0.3, &x, &mut dx, &mut scratch);
        let (mut gx, mut gp) = (vec![0.0; n], vec![0.5; f.n_params()]);
        f.vjp(0.3, &x, &lam, &mut gx, &mut gp, &mut scratch);
        let mut dx2 = vec![0.0; n];
        f.eval_taped(0.3, &x, &mut dx2, &mut tape);
        let (mut gx2, mut gp2) = (vec![0.0; n], vec![0.5; f.n_params()]);
        f.backward_taped(0.3, &x, &tape, &lam, &mut gx2, &mut gp2, &mut scratch);
        [dx, gx, gp, dx2, gx2, gp2]
    };
    let a = run(&m);
    let b = run(&net);
    for (i, (u, v)) in a.iter().zip(&b).enumerate() {
        assert!(u.iter().all(|e| e.is_finite()), "output {i} not finite");
        assert_eq!(u, v, "output {i}: JIT not bit-equal to the interpreter");
    }
}
