//! The reference evaluator: `Graph::mlp` against a hand-written MLP, ConcatSquash against
//! its formula, and the linear ops against their definitions and transposes.

use symplode_codegen::ir::eval::{evaluate_f64, evaluate_f64_times};
use symplode_codegen::ir::{Activation, Graph, GraphBuilder, Type, UnaryOp};

/// A small deterministic generator of values in (−1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.next()).collect()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The runtime `Mlp`'s forward pass written out: flat params layer by layer, W [out,in]
/// row-major then b [out]; `[x, t]` input with time last.
fn hand_mlp(
    x: &[f64],
    t: f64,
    p: &[f64],
    dim: usize,
    hidden: &[usize],
    act: UnaryOp,
    time_input: bool,
) -> Vec<f64> {
    let batch = x.len() / dim;
    let mut out = Vec::new();
    for s in 0..batch {
        let mut h: Vec<f64> = x[s * dim..(s + 1) * dim].to_vec();
        if time_input {
            h.push(t);
        }
        let mut off = 0;
        let widths: Vec<usize> = hidden.iter().copied().chain([dim]).collect();
        for (l, &o) in widths.iter().enumerate() {
            let i = h.len();
            let (w, b) = (&p[off..off + o * i], &p[off + o * i..off + o * i + o]);
            off += o * i + o;
            let mut y: Vec<f64> = (0..o)
                .map(|r| dot(&w[r * i..(r + 1) * i], &h) + b[r])
                .collect();
            if l + 1 < widths.len() {
                y.iter_mut().for_each(|v| *v = act.apply(*v));
            }
            h = y;
        }
        out.extend(h);
    }
    out
}

#[test]
fn mlp_matches_the_hand_written_network() {
    let mut rng = Rng(1);
    let acts = [
        Activation::Tanh,
        Activation::Softplus,
        Activation::Sigmoid,
        Activation::Relu,
        Activation::Elu,
        Activation::Silu,
    ];
    for act in acts {
        for time_input in [false, true] {
            let (dim, hidden) = (3, [4, 5]);
            let g = Graph::mlp(dim, &hidden, act, time_input).unwrap();
            let din = dim + usize::from(time_input);
            assert_eq!(g.param_len(), 4 * din + 4 + 5 * 4 + 5 + 3 * 5 + 3, "{act}");
            let names: Vec<&str> = g.params().iter().map(|p| p.name.as_str()).collect();
            assert_eq!(
                names,
                [
                    "layers.0.weight",
                    "layers.0.bias",
                    "layers.1.weight",
                    "layers.1.bias",
                    "layers.2.weight",
                    "layers.2.bias"
                ]
            );
            let p = rng.vec(g.param_len());
            let x = rng.vec(4 * dim);
            let t = 0.7;
            let y = evaluate_f64(&g, 4, &[&x], t, &p).unwrap();
            let expected = hand_mlp(&x, t, &p, dim, &hidden, act.unary().unwrap(), time_input);
            assert_eq!(y[0].len(), expected.len());
            for (a, b) in y[0].iter().zip(&expected) {
                assert!((a - b).abs() <= 1e-14, "{act} {time_input}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn mlp_without_hidden_layers_is_affine() {
    let g = Graph::mlp(2, &[], Activation::Tanh, true).unwrap();
    let p = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.5, -0.5];
    let y = evaluate_f64(&g, 1, &[&[1.0, -1.0]], 2.0, &p).unwrap();
    assert_eq!(y[0], [1.0 - 2.0 + 6.0 + 0.5, 4.0 - 5.0 + 12.0 - 0.5]);
}

#[test]
fn concat_squash_matches_its_formula() {
    let mut rng = Rng(2);
    let g = Graph::concat_squash_mlp(2, &[3], Activation::Softplus).unwrap();
    let names: Vec<&str> = g.params().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        &names[..5],
        [
            "layers.0._layer.weight",
            "layers.0._layer.bias",
            "layers.0._hyper_bias.weight",
            "layers.0._hyper_gate.weight",
            "layers.0._hyper_gate.bias"
        ]
    );
    let p = rng.vec(g.param_len());
    let x = rng.vec(2);
    let t = 0.3;
    let y = evaluate_f64(&g, 1, &[&x], t, &p).unwrap();
    // One ConcatSquash layer by hand, params at `off`.
    let layer = |h: &[f64], off: usize, out: usize| -> Vec<f64> {
        let i = h.len();
        let w = &p[off..off + out * i];
        let b = &p[off + out * i..off + out * i + out];
        let wb = &p[off + out * i + out..off + out * i + 2 * out];
        let wg = &p[off + out * i + 2 * out..off + out * i + 3 * out];
        let bg = &p[off + out * i + 3 * out..off + out * i + 4 * out];
        (0..out)
            .map(|r| {
                let lin = dot(&w[r * i..(r + 1) * i], h) + b[r];
                let gate = 1.0 / (1.0 + (-(wg[r] * t + bg[r])).exp());
                lin * gate + wb[r] * t
            })
            .collect()
    };
    let h: Vec<f64> = layer(&x, 0, 3)
        .into_iter()
        .map(|v| UnaryOp::Softplus.apply(v))
        .collect();
    let expected = layer(&h, 3 * 2 + 4 * 3, 2);
    for (a, b) in y[0].iter().zip(&expected) {
        assert!((a - b).abs() < 1e-14, "{a} vs {b}");
    }
}

#[test]
fn time_is_per_sample_and_binary_broadcasts() {
    let mut b = GraphBuilder::new();
    let x = b.input("x", 2).unwrap();
    let t = b.time().unwrap();
    let y = b.mul(x, t).unwrap();
    let z = b.div(t, x).unwrap();
    let s = b.sum_features(x).unwrap();
    let g = b.finish(&[y, z, s]).unwrap();
    let out = evaluate_f64_times(&g, 2, &[&[1.0, 2.0, 3.0, 4.0]], &[10.0, 100.0], &[]).unwrap();
    assert_eq!(out[0], [10.0, 20.0, 300.0, 400.0]);
    assert_eq!(out[1], [10.0, 5.0, 100.0 / 3.0, 25.0]);
    assert_eq!(out[2], [3.0, 7.0]);
}

#[test]
fn unary_reference_definitions() {
    assert_eq!(UnaryOp::Relu.apply(0.0), 0.0);
    assert_eq!(UnaryOp::Relu.apply(-2.0), 0.0);
    assert_eq!(UnaryOp::Step.apply(0.0), 0.0);
    assert_eq!(UnaryOp::Step.apply(1e-300), 1.0);
    assert_eq!(UnaryOp::Softplus.apply(800.0), 800.0);
    assert_eq!(UnaryOp::Softplus.apply(-800.0), 0.0);
    assert!((UnaryOp::Softplus.apply(0.0) - 2f64.ln()).abs() < 1e-16);
    assert_eq!(UnaryOp::Sigmoid.apply(-800.0), 0.0);
    assert_eq!(UnaryOp::Sigmoid.apply(800.0), 1.0);
    assert_eq!(UnaryOp::Elu.apply(-1e-20), -1e-20);
    assert!((UnaryOp::Silu.apply(1.0) - 1.0 / (1.0 + (-1f64).exp())).abs() < 1e-16);
    assert_eq!(UnaryOp::Recip.apply(4.0), 0.25);
}

#[test]
fn stencil_is_periodic_per_channel() {
    let mut b = GraphBuilder::new();
    let u = b.input("u", 8).unwrap();
    let d = b.stencil(u, &[1.0, -2.0, 1.0], 4).unwrap();
    let c = b.stencil(u, &[-0.5, 0.0, 0.5], 4).unwrap();
    let g = b.finish(&[d, c]).unwrap();
    let u = [1.0, 2.0, 4.0, 8.0, 0.0, 1.0, 0.0, 0.0];
    let y = evaluate_f64(&g, 1, &[&u], 0.0, &[]).unwrap();
    assert_eq!(
        y[0],
        [
            8.0 - 2.0 + 2.0,
            1.0,
            2.0,
            4.0 - 16.0 + 1.0,
            1.0,
            -2.0,
            1.0,
            0.0
        ]
    );
    assert_eq!(y[1], [-3.0, 1.5, 3.0, -1.5, 0.5, 0.0, -0.5, 0.0]);
}

/// A circular pad then a PyTorch `Conv1d` (cross-correlation), written out.
fn torch_conv(
    x: &[f64],
    w: &[f64],
    b: &[f64],
    n: usize,
    cin: usize,
    cout: usize,
    k: usize,
) -> Vec<f64> {
    let r = k / 2;
    let mut y = vec![0.0; cout * n];
    for o in 0..cout {
        for i in 0..n {
            let mut acc = b[o];
            for c in 0..cin {
                let padded: Vec<f64> = (0..n + 2 * r).map(|j| x[c * n + (j + n - r) % n]).collect();
                for j in 0..k {
                    acc += w[(o * cin + c) * k + j] * padded[i + j];
                }
            }
            y[o * n + i] = acc;
        }
    }
    y
}

#[test]
fn conv1d_matches_circular_pad_then_cross_correlation() {
    let mut rng = Rng(3);
    let (n, cin, cout, k) = (5, 2, 3, 3);
    let mut b = GraphBuilder::new();
    let x = b.input("x", cin * n).unwrap();
    let w = b.param("w", &[cout, cin, k]).unwrap();
    let bias = b.param("b", &[cout]).unwrap();
    let y = b.conv1d(x, w, Some(bias), n).unwrap();
    let g = b.finish(&[y]).unwrap();
    let p = rng.vec(g.param_len());
    let xs = rng.vec(2 * cin * n);
    let out = evaluate_f64(&g, 2, &[&xs], 0.0, &p).unwrap();
    for s in 0..2 {
        let expected = torch_conv(
            &xs[s * cin * n..(s + 1) * cin * n],
            &p[..cout * cin * k],
            &p[cout * cin * k..],
            n,
            cin,
            cout,
            k,
        );
        let got = &out[0][s * cout * n..(s + 1) * cout * n];
        for (a, e) in got.iter().zip(&expected) {
            assert!((a - e).abs() < 1e-14);
        }
    }
}

#[test]
fn transposed_ops_are_transposes() {
    // ⟨y, A x⟩ = ⟨Aᵀ y, x⟩ for dense/dense_nt, conv1d/conv1d_t, stencil/reversed stencil,
    // and ⟨G, W⟩ = ⟨dy, conv(x; W)⟩ for the weight gradients.
    let mut rng = Rng(4);
    let (n, cin, cout, k, batch) = (6, 2, 3, 5, 3);
    let mut b = GraphBuilder::new();
    let x = b.input("x", cin * n).unwrap();
    let dy = b.input("dy", cout * n).unwrap();
    let w = b.param("w", &[cout, cin, k]).unwrap();
    let conv = b.conv1d(x, w, None, n).unwrap();
    let conv_t = b.conv1d_t(dy, w, n).unwrap();
    let wgrad = b.conv1d_weight_grad(dy, x, n, k).unwrap();
    let m = b.param("m", &[cout * n, cin * n]).unwrap();
    let dense = b.dense(x, m, None).unwrap();
    let dense_nt = b.dense_nt(dy, m).unwrap();
    let outer = b.batch_outer(dy, x).unwrap();
    let st = b.stencil(x, &[0.3, -1.0, 2.0, 0.5, -0.25], n).unwrap();
    let st_t = b.stencil(x, &[-0.25, 0.5, 2.0, -1.0, 0.3], n).unwrap();
    let g = b
        .finish(&[conv, conv_t, wgrad, dense, dense_nt, outer, st, st_t])
        .unwrap();
    let p = rng.vec(g.param_len());
    let xs = rng.vec(batch * cin * n);
    let dys = rng.vec(batch * cout * n);
    let o = evaluate_f64(&g, batch, &[&xs, &dys], 0.0, &p).unwrap();
    let wv = &p[..cout * cin * k];
    let mv = &p[cout * cin * k..];
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12 * (1.0 + a.abs()), "{a} vs {b}");
    close(dot(&dys, &o[0]), dot(&o[1], &xs));
    close(dot(&o[2], wv), dot(&dys, &o[0]));
    close(dot(&dys, &o[3]), dot(&o[4], &xs));
    close(dot(&o[5], mv), dot(&dys, &o[3]));
    // ⟨x, S x'⟩ with x' = x: the reversed stencil is the transpose.
    let xs2 = rng.vec(batch * cin * n);
    let o2 = evaluate_f64(&g, batch, &[&xs2, &dys], 0.0, &p).unwrap();
    close(dot(&xs2, &o[6]), dot(&o2[7], &xs));
    assert_eq!(g.ty(outer), Some(&Type::global(&[cout * n, cin * n])));
}
