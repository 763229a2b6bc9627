//! 2-D convolutions and the squeeze in the IR: the reference evaluator against an
//! independent scatter-form convolution and hand-computed values, squeeze against FFJORD's
//! `view/permute` order, and the derivatives — VJP and JVP against central differences,
//! ⟨ū, Jv⟩ = ⟨Jᵀū, v⟩, and second order (vjp∘vjp, jvp∘vjp) — for every stride, padding and
//! kernel size used, through a multiscale-style image network with the time as a channel.

use symplode_codegen::ad::check::{Point, check_jvp, check_vjp};
use symplode_codegen::ad::{Wrt, jvp, vjp};
use symplode_codegen::ir::eval::evaluate_f64;
use symplode_codegen::ir::{Activation, Conv2dShape, Graph, GraphBuilder, SqueezeShape, UnaryOp};

/// A small deterministic generator, uniform in (−1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// The convolution written the other way round: every input pixel scatters into the
/// outputs that read it (independent of the evaluator's gather loops).
fn scatter_conv(x: &[f64], w: &[f64], b: &[f64], s: &Conv2dShape, batch: usize) -> Vec<f64> {
    let (ho, wo) = (s.out_h(), s.out_w());
    let mut y = vec![0.0; batch * s.cout * ho * wo];
    for bs in 0..batch {
        for o in 0..s.cout {
            for p in 0..ho * wo {
                y[(bs * s.cout + o) * ho * wo + p] = b[o];
            }
        }
        for c in 0..s.cin {
            for iy in 0..s.h {
                for ix in 0..s.w {
                    let xv = x[((bs * s.cin + c) * s.h + iy) * s.w + ix];
                    for u in 0..s.k {
                        for v in 0..s.k {
                            // iy = i·stride + u − pad.
                            let (ny, nx) = (iy + s.pad, ix + s.pad);
                            if ny < u || nx < v {
                                continue;
                            }
                            let (dy, dx) = (ny - u, nx - v);
                            if dy % s.stride != 0 || dx % s.stride != 0 {
                                continue;
                            }
                            let (i, j) = (dy / s.stride, dx / s.stride);
                            if i >= ho || j >= wo {
                                continue;
                            }
                            for o in 0..s.cout {
                                let wv = w[((o * s.cin + c) * s.k + u) * s.k + v];
                                y[((bs * s.cout + o) * ho + i) * wo + j] += wv * xv;
                            }
                        }
                    }
                }
            }
        }
    }
    y
}

fn shapes() -> Vec<Conv2dShape> {
    let mut v = Vec::new();
    for (k, stride, pad) in [
        (3, 1, 1),
        (3, 2, 1),
        (1, 1, 0),
        (2, 1, 0),
        (4, 2, 1),
        (3, 1, 0),
        (3, 3, 2),
    ] {
        v.push(Conv2dShape {
            cin: 2,
            cout: 3,
            h: 5,
            w: 6,
            k,
            stride,
            pad,
        });
    }
    v
}

fn conv_graph(s: Conv2dShape) -> Graph {
    let mut b = GraphBuilder::new();
    let x = b.input("x", s.in_width()).unwrap();
    let w = b.param("w", &[s.cout, s.cin, s.k, s.k]).unwrap();
    let bias = b.param("b", &[s.cout]).unwrap();
    let y = b.conv2d(x, w, Some(bias), s).unwrap();
    b.finish(&[y]).unwrap()
}

#[test]
fn the_evaluator_matches_a_scatter_convolution() {
    let mut rng = Rng(1);
    for s in shapes() {
        let batch = 2;
        let g = conv_graph(s);
        let x = rng.vec(batch * s.in_width());
        let p = rng.vec(g.param_len());
        let (w, b) = p.split_at(s.cout * s.cin * s.k * s.k);
        let y = evaluate_f64(&g, batch, &[&x], 0.0, &p).unwrap();
        let r = scatter_conv(&x, w, b, &s, batch);
        assert_eq!(y[0].len(), r.len(), "{s:?}");
        for (a, e) in y[0].iter().zip(&r) {
            assert!((a - e).abs() <= 1e-14, "{s:?}: {a} vs {e}");
        }
    }
}

#[test]
fn hand_computed_convolution() {
    // One 3×3 channel 1..9 and a kernel of ones: with k = 2, no padding, bias 0.5, the 2×2
    // block sums + 0.5; with k = 3, stride 2, padding 1, the windows centred on the corners.
    let s = Conv2dShape {
        cin: 1,
        cout: 1,
        h: 3,
        w: 3,
        k: 2,
        stride: 1,
        pad: 0,
    };
    let x: Vec<f64> = (1..=9).map(f64::from).collect();
    let y = evaluate_f64(&conv_graph(s), 1, &[&x], 0.0, &[1.0, 1.0, 1.0, 1.0, 0.5]).unwrap();
    assert_eq!(y[0], vec![12.5, 16.5, 24.5, 28.5]);
    let s = Conv2dShape {
        k: 3,
        stride: 2,
        pad: 1,
        ..s
    };
    let mut p = vec![1.0; 9];
    p.push(0.0);
    let y = evaluate_f64(&conv_graph(s), 1, &[&x], 0.0, &p).unwrap();
    // Windows centred on (0,0), (0,2), (2,0), (2,2) with zero padding.
    assert_eq!(y[0], vec![12.0, 16.0, 24.0, 28.0]);
}

#[test]
fn squeeze_follows_ffjord_order_and_inverts() {
    // x.view(B, C, H/2, 2, W/2, 2).permute(0, 1, 3, 5, 2, 4): a 1×2×4 image
    // [a b c d; e f g h] → channels (0,0): a c, (0,1): b d, (1,0): e g, (1,1): f h.
    let s = SqueezeShape { c: 1, h: 2, w: 4 };
    let mut b = GraphBuilder::new();
    let x = b.input("x", 8).unwrap();
    let y = b.squeeze(x, s).unwrap();
    let z = b.unsqueeze(y, s).unwrap();
    let g = b.finish(&[y, z]).unwrap();
    let xv: Vec<f64> = (0..8).map(f64::from).collect();
    let out = evaluate_f64(&g, 1, &[&xv], 0.0, &[]).unwrap();
    assert_eq!(out[0], vec![0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]);
    assert_eq!(out[1], xv);
    // Odd sizes are refused with the reason.
    let mut b = GraphBuilder::new();
    let x = b.input("x", 9).unwrap();
    let e = b.squeeze(x, SqueezeShape { c: 1, h: 3, w: 3 }).unwrap_err();
    assert!(e.to_string().contains("even"), "{e}");
}

#[test]
fn bad_shapes_are_refused() {
    let s = Conv2dShape {
        cin: 2,
        cout: 3,
        h: 4,
        w: 4,
        k: 3,
        stride: 1,
        pad: 1,
    };
    let mut b = GraphBuilder::new();
    let x = b.input("x", 31).unwrap();
    let w = b.param("w", &[3, 2, 3, 3]).unwrap();
    let e = b.conv2d(x, w, None, s).unwrap_err().to_string();
    assert!(e.contains("31") && e.contains("32"), "{e}");
    let x = b.input("x2", 32).unwrap();
    let w2 = b.param("w2", &[3, 2, 2, 2]).unwrap();
    let e = b.conv2d(x, w2, None, s).unwrap_err().to_string();
    assert!(e.contains("[3,2,3,3]"), "{e}");
    let e = b
        .conv2d(x, w, None, Conv2dShape { k: 7, pad: 1, ..s })
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not fit"), "{e}");
    let e = b
        .conv2d(x, w, None, Conv2dShape { stride: 0, ..s })
        .unwrap_err()
        .to_string();
    assert!(e.contains("stride = 0"), "{e}");
}

/// A multiscale-style vector field on a `1 × 4 × 6` image: squeeze, two `ConcatConv2d`
/// layers (time as a channel) with softplus, a strided and a padded-free convolution, back.
fn image_net() -> Graph {
    let mut b = GraphBuilder::new();
    let x = b.input("x", 24).unwrap();
    let sq = SqueezeShape { c: 1, h: 4, w: 6 };
    let z = b.squeeze(x, sq).unwrap();
    let (h, img) = b.concat_conv2d(z, "l0", (4, 2, 3), 3, (3, 1, 1)).unwrap();
    let h = b.unary(UnaryOp::Softplus, h).unwrap();
    let (h2, img2) = b
        .conv2d_layer(h, "l1", img, 2, (2, 1, 1), Activation::Tanh, true)
        .unwrap();
    assert_eq!(img2, (2, 3, 4));
    let (h3, img3) = b
        .conv2d_layer(h2, "l2", img2, 4, (2, 1, 0), Activation::Identity, false)
        .unwrap();
    assert_eq!(img3, (4, 2, 3));
    let s = b.mul(h3, z).unwrap();
    let s = b.add(s, h3).unwrap();
    let y = b.unsqueeze(s, sq).unwrap();
    // A strided layer too, as a second output.
    let (h4, _) = b
        .conv2d_layer(h, "l3", img, 2, (3, 2, 1), Activation::Softplus, true)
        .unwrap();
    b.finish(&[y, h4]).unwrap()
}

fn point(g: &Graph, batch: usize, rng: &mut Rng) -> Point {
    Point {
        batch,
        inputs: g
            .inputs()
            .iter()
            .map(|d| rng.vec(batch * d.width))
            .collect(),
        times: rng.vec(batch),
        params: rng.vec(g.param_len()),
    }
}

fn cotangents(g: &Graph, batch: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
    g.output_types()
        .iter()
        .map(|t| rng.vec(t.len_for_batch(batch)))
        .collect()
}

fn vjp_fd(g: &Graph, rng: &mut Rng, what: &str) {
    let p = point(g, 2, rng);
    let cot = cotangents(g, 2, rng);
    let err = check_vjp(g, &p, &cot, 1e-5).unwrap().error();
    assert!(err < 2e-7, "{what}: vjp vs central differences: {err:e}");
}

fn jvp_fd(g: &Graph, rng: &mut Rng, what: &str) {
    let p = point(g, 2, rng);
    let dir = point(g, 2, rng);
    let err = check_jvp(g, &p, &dir, 1e-5).unwrap().error();
    assert!(err < 2e-7, "{what}: jvp vs central differences: {err:e}");
}

#[test]
fn first_order_against_central_differences() {
    let mut rng = Rng(7);
    for s in shapes() {
        let g = conv_graph(s);
        vjp_fd(&g, &mut rng, &format!("{s:?}"));
        jvp_fd(&g, &mut rng, &format!("{s:?}"));
    }
    let g = image_net();
    vjp_fd(&g, &mut rng, "image net");
    jvp_fd(&g, &mut rng, "image net");
}

#[test]
fn second_order_against_central_differences() {
    let mut rng = Rng(11);
    let g = image_net();
    let v = vjp(&g, &Wrt::all(&g)).unwrap();
    vjp_fd(&v, &mut rng, "vjp∘vjp");
    jvp_fd(&v, &mut rng, "jvp∘vjp");
    let j = jvp(&g, &Wrt::all(&g)).unwrap();
    vjp_fd(&j, &mut rng, "vjp∘jvp");
    for s in shapes() {
        let v = vjp(&conv_graph(s), &Wrt::all(&conv_graph(s))).unwrap();
        vjp_fd(&v, &mut rng, &format!("vjp∘vjp {s:?}"));
        let vv = vjp(&v, &Wrt::all(&v)).unwrap();
        jvp_fd(&vv, &mut rng, &format!("jvp∘vjp∘vjp {s:?}"));
    }
}

#[test]
fn vjp_and_jvp_are_adjoint() {
    let mut rng = Rng(13);
    let g = image_net();
    let batch = 3;
    let p = point(&g, batch, &mut rng);
    let dir = point(&g, batch, &mut rng);
    let cot = cotangents(&g, batch, &mut rng);
    let n_out = g.outputs().len();
    let mut q = p.clone();
    q.inputs.extend(dir.inputs.iter().cloned());
    q.inputs.push(dir.times.clone());
    q.params.extend(&dir.params);
    let jv = q.eval(&jvp(&g, &Wrt::all(&g)).unwrap()).unwrap();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let lhs: f64 = jv[n_out..].iter().zip(&cot).map(|(a, c)| dot(a, c)).sum();
    let mut q = p.clone();
    q.inputs.extend(cot.iter().cloned());
    let jtu = q.eval(&vjp(&g, &Wrt::all(&g)).unwrap()).unwrap()[n_out..].concat();
    let rhs = dot(&jtu, &dir.flat());
    assert!(
        (lhs - rhs).abs() <= 1e-12 * (1.0 + lhs.abs()),
        "⟨ū, Jv⟩ = {lhs} but ⟨Jᵀū, v⟩ = {rhs}"
    );
}
