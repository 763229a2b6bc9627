//! Energy dynamics `ż = D ∇H`: the HNN++ convolutional energy of the KdV/Cahn–Hilliard
//! experiments against `D` applied to a finite-difference gradient, an analytic energy,
//! and the VJP (second order) against central differences.

use symplode_codegen::ad::check::{Point, check_jvp, check_vjp, gradient};
use symplode_codegen::ad::{LinearOp, energy_dynamics};
use symplode_codegen::ir::eval::evaluate_f64;
use symplode_codegen::ir::{Activation, Graph, GraphBuilder, UnaryOp};

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

/// DGNet's HNN++ energy: PeriodicPad(1) → Conv1d(1→C, k=3) → tanh → Conv1d(C→C, k=1) → tanh
/// → Conv1d(C→1, k=1, no bias) → sum over the grid.
fn hnn_energy(n: usize, channels: usize) -> Graph {
    let mut b = GraphBuilder::new();
    let u = b.input("u", n).unwrap();
    let h = b
        .conv1d_layer(u, "conv1", n, channels, 3, Activation::Tanh, true)
        .unwrap();
    let h = b
        .conv1d_layer(h, "conv2", n, channels, 1, Activation::Tanh, true)
        .unwrap();
    let h = b
        .conv1d_layer(h, "conv3", n, 1, 1, Activation::Identity, false)
        .unwrap();
    let e = b.sum_features(h).unwrap();
    b.finish(&[e]).unwrap()
}

/// `D v` per sample for a centred periodic stencil.
fn apply_stencil(op: &LinearOp, v: &[f64]) -> Vec<f64> {
    let (n, r) = (op.n, op.coeffs.len() / 2);
    v.chunks(n)
        .flat_map(|row| {
            (0..n).map(move |i| {
                op.coeffs
                    .iter()
                    .enumerate()
                    .map(|(j, c)| c * row[(i + j + n - r) % n])
                    .sum::<f64>()
            })
        })
        .collect()
}

#[test]
fn hnn_energy_dynamics_is_d_grad_h() {
    let (n, channels, batch) = (8, 4, 2);
    let h = hnn_energy(n, channels);
    assert_eq!(
        h.param_len(),
        channels * 3 + channels + channels * channels + channels + channels
    );
    let mut rng = Rng(1);
    let p = rng.vec(h.param_len());
    let u = rng.vec(batch * n);
    let dx = 0.2;
    for op in [
        LinearOp::central_difference(n, dx),
        LinearOp::laplacian(n, dx),
    ] {
        let f = energy_dynamics(&h, &op).unwrap();
        let out = evaluate_f64(&f, batch, &[&u], 0.0, &p).unwrap().remove(0);
        // ∇H per sample by central differences of the summed energy (samples independent).
        let grad = gradient(
            |uu| {
                evaluate_f64(&h, batch, &[uu], 0.0, &p).unwrap()[0]
                    .iter()
                    .sum()
            },
            &u,
            1e-5,
        );
        let expected = apply_stencil(&op, &grad);
        for (a, e) in out.iter().zip(&expected) {
            assert!((a - e).abs() < 1e-7 * (1.0 + e.abs()), "{a} vs {e}");
        }
    }
}

#[test]
fn kdv_like_analytic_energy() {
    // H = Σᵢ (u³ + ½ (∂u)²ᵢ) with ∂ the central difference: ∇H = 3u² + ∂ᵀ∂u = 3u² − ∂∂u.
    let n = 7;
    let dx = 0.5;
    let d = LinearOp::central_difference(n, dx);
    let mut b = GraphBuilder::new();
    let u = b.input("u", n).unwrap();
    let sq = b.unary(UnaryOp::Square, u).unwrap();
    let cube = b.mul(sq, u).unwrap();
    let du = b.stencil(u, &d.coeffs, n).unwrap();
    let du2 = b.unary(UnaryOp::Square, du).unwrap();
    let half = b.scale(du2, 0.5).unwrap();
    let density = b.add(cube, half).unwrap();
    // The density [B,n] is summed by energy_dynamics itself.
    let h = b.finish(&[density]).unwrap();
    let lap = LinearOp::laplacian(n, dx);
    let f = energy_dynamics(&h, &lap).unwrap();
    let mut rng = Rng(2);
    let uv = rng.vec(n);
    let out = evaluate_f64(&f, 1, &[&uv], 0.0, &[]).unwrap().remove(0);
    let ddu = apply_stencil(&d, &apply_stencil(&d, &uv));
    let grad: Vec<f64> = uv.iter().zip(&ddu).map(|(x, y)| 3.0 * x * x - y).collect();
    let expected = apply_stencil(&lap, &grad);
    for (a, e) in out.iter().zip(&expected) {
        assert!((a - e).abs() < 1e-12 * (1.0 + e.abs()), "{a} vs {e}");
    }
}

#[test]
fn vjp_of_energy_dynamics_matches_finite_differences() {
    let (n, channels, batch) = (6, 3, 2);
    let h = hnn_energy(n, channels);
    let mut rng = Rng(3);
    for op in [
        LinearOp::central_difference(n, 0.2),
        LinearOp::laplacian(n, 0.2),
    ] {
        let f = energy_dynamics(&h, &op).unwrap();
        let at = Point {
            batch,
            inputs: vec![rng.vec(batch * n)],
            times: rng.vec(batch),
            params: rng.vec(f.param_len()),
        };
        // Keep the Laplacian's 1/dx² = 25 from dominating the finite-difference error.
        let cot = vec![rng.vec(batch * n).iter().map(|c| c * 0.1).collect()];
        let c = check_vjp(&f, &at, &cot, 1e-5).unwrap();
        assert!(c.error() < 1e-7, "vjp: {:e}", c.error());
        let dir = at.with_flat(&rng.vec(at.flat().len()));
        let c = check_jvp(&f, &at, &dir, 1e-5).unwrap();
        assert!(c.error() < 1e-6, "jvp: {:e}", c.error());
    }
}

#[test]
fn energy_without_dependence_on_z_gives_zero_dynamics() {
    let mut b = GraphBuilder::new();
    b.input("u", 4).unwrap();
    let t = b.time().unwrap();
    let h = b.finish(&[t]).unwrap();
    let f = energy_dynamics(&h, &LinearOp::laplacian(4, 1.0)).unwrap();
    let out = evaluate_f64(&f, 1, &[&[1.0, 2.0, 3.0, 4.0]], 1.0, &[]).unwrap();
    assert_eq!(out[0], [0.0; 4]);
}
