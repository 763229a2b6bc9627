//! CNF dynamics: the exact trace equals the Jacobian diagonal from finite differences,
//! Hutchinson equals `εᵀJε`, and the VJP of the CNF dynamics (second order) matches central
//! differences.

use symplode_codegen::ad::check::{Point, check_jvp, check_vjp, directional_derivative};
use symplode_codegen::ad::{Trace, Wrt, cnf_dynamics, vjp};
use symplode_codegen::ir::eval::evaluate_f64;
use symplode_codegen::ir::{Activation, Graph};

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

const H: f64 = 1e-5;

/// The vector fields the tests use: FFJORD's ConcatSquash net and the runtime MLP.
fn fields() -> Vec<(&'static str, Graph)> {
    vec![
        (
            "concat_squash tanh",
            Graph::concat_squash_mlp(3, &[6, 5], Activation::Tanh).unwrap(),
        ),
        (
            "concat_squash softplus",
            Graph::concat_squash_mlp(2, &[4], Activation::Softplus).unwrap(),
        ),
        (
            "mlp silu",
            Graph::mlp(3, &[5], Activation::Silu, true).unwrap(),
        ),
    ]
}

/// `f(z)` row-major for a batch.
fn eval_f(f: &Graph, z: &[f64], batch: usize, t: f64, p: &[f64]) -> Vec<f64> {
    evaluate_f64(f, batch, &[z], t, p).unwrap().remove(0)
}

/// `[z, log p]` rows from `z` rows.
fn with_logp(z: &[f64], d: usize, rng: &mut Rng) -> Vec<f64> {
    z.chunks(d)
        .flat_map(|row| row.iter().copied().chain([rng.next()]))
        .collect()
}

#[test]
fn exact_trace_is_the_jacobian_diagonal() {
    let mut rng = Rng(1);
    for (name, f) in fields() {
        let d = f.inputs()[0].width;
        let batch = 3;
        let cnf = cnf_dynamics(&f, Trace::Exact).unwrap();
        assert_eq!(cnf.inputs().len(), 1);
        assert_eq!(cnf.inputs()[0].width, d + 1);
        assert_eq!(cnf.params(), f.params());
        let p = rng.vec(f.param_len());
        let z = rng.vec(batch * d);
        let t = 0.4;
        let state = with_logp(&z, d, &mut rng);
        let out = evaluate_f64(&cnf, batch, &[&state], t, &p)
            .unwrap()
            .remove(0);
        let fz = eval_f(&f, &z, batch, t, &p);
        for s in 0..batch {
            // dz/dt = f(z).
            for i in 0..d {
                assert!(
                    (out[s * (d + 1) + i] - fz[s * d + i]).abs() < 1e-14,
                    "{name}"
                );
            }
            // d log p / dt = −Σᵢ ∂fᵢ/∂zᵢ, each diagonal entry by central differences.
            let mut tr = 0.0;
            for i in 0..d {
                let mut e = vec![0.0; batch * d];
                e[s * d + i] = 1.0;
                let col = directional_derivative(|zz| eval_f(&f, zz, batch, t, &p), &z, &e, H);
                tr += col[s * d + i];
            }
            let got = out[s * (d + 1) + d];
            assert!((got + tr).abs() < 1e-8, "{name}: −tr = {got}, fd {}", -tr);
        }
    }
}

#[test]
fn hutchinson_is_eps_jacobian_eps() {
    let mut rng = Rng(2);
    for (name, f) in fields() {
        let d = f.inputs()[0].width;
        let batch = 4;
        let cnf = cnf_dynamics(&f, Trace::Hutchinson).unwrap();
        assert_eq!(cnf.inputs()[1].name, "eps");
        let p = rng.vec(f.param_len());
        let z = rng.vec(batch * d);
        let eps = rng.vec(batch * d);
        let t = -0.3;
        let state = with_logp(&z, d, &mut rng);
        let out = evaluate_f64(&cnf, batch, &[&state, &eps], t, &p)
            .unwrap()
            .remove(0);
        // J ε per sample by a central difference along ε (samples are independent).
        let jeps = directional_derivative(|zz| eval_f(&f, zz, batch, t, &p), &z, &eps, H);
        for s in 0..batch {
            let q: f64 = (0..d).map(|i| eps[s * d + i] * jeps[s * d + i]).sum();
            let got = out[s * (d + 1) + d];
            assert!((got + q).abs() < 1e-8, "{name}: {got} vs {}", -q);
        }
    }
}

#[test]
fn exact_trace_equals_hutchinson_summed_over_a_basis() {
    // Σᵢ eᵢᵀ J eᵢ = tr J: Hutchinson with the unit vectors sums to the exact trace, to
    // rounding.
    let f = Graph::concat_squash_mlp(3, &[5], Activation::Tanh).unwrap();
    let d = 3;
    let mut rng = Rng(3);
    let p = rng.vec(f.param_len());
    let z = rng.vec(d);
    let state = with_logp(&z, d, &mut rng);
    let exact = cnf_dynamics(&f, Trace::Exact).unwrap();
    let hutch = cnf_dynamics(&f, Trace::Hutchinson).unwrap();
    let e = evaluate_f64(&exact, 1, &[&state], 0.2, &p).unwrap()[0][d];
    let mut sum = 0.0;
    for i in 0..d {
        let mut eps = vec![0.0; d];
        eps[i] = 1.0;
        sum += evaluate_f64(&hutch, 1, &[&state, &eps], 0.2, &p).unwrap()[0][d];
    }
    assert!((e - sum).abs() < 1e-14, "{e} vs {sum}");
}

#[test]
fn vjp_of_cnf_dynamics_matches_finite_differences() {
    let mut rng = Rng(4);
    for (name, f) in fields() {
        for trace in [Trace::Exact, Trace::Hutchinson] {
            let cnf = cnf_dynamics(&f, trace).unwrap();
            let batch = 2;
            let at = Point {
                batch,
                inputs: cnf
                    .inputs()
                    .iter()
                    .map(|i| rng.vec(batch * i.width))
                    .collect(),
                times: rng.vec(batch),
                params: rng.vec(cnf.param_len()),
            };
            let cot = vec![rng.vec(batch * cnf.inputs()[0].width)];
            let c = check_vjp(&cnf, &at, &cot, H).unwrap();
            assert!(c.error() < 1e-7, "{name} {trace:?}: {:e}", c.error());
            // log p does not feed back: its column of the state gradient is zero.
            let d = f.inputs()[0].width;
            for s in 0..batch {
                assert_eq!(c.derived[s * (d + 1) + d], 0.0);
            }
            let dir = at.with_flat(&rng.vec(at.flat().len()));
            let c = check_jvp(&cnf, &at, &dir, H).unwrap();
            assert!(c.error() < 1e-7, "{name} {trace:?} jvp: {:e}", c.error());
        }
    }
}

#[test]
fn adjoint_graph_of_the_cnf_has_the_expected_interface() {
    let f = Graph::concat_squash_mlp(2, &[4], Activation::Tanh).unwrap();
    let cnf = cnf_dynamics(&f, Trace::Hutchinson).unwrap();
    let adj = vjp(&cnf, &Wrt::state_and_params(&cnf)).unwrap();
    let names: Vec<&str> = adj.inputs().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["state", "eps", "cotangent.0"]);
    assert_eq!(adj.outputs().len(), 1 + 1 + cnf.params().len());
    assert_eq!(adj.params(), f.params());
}
