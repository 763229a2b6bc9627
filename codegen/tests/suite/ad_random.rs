//! Random graphs over the whole op set: `vjp` and `jvp` against central differences (inputs,
//! time and parameters), their agreement, and second order (vjp∘jvp, vjp∘vjp, jvp∘vjp,
//! jvp∘jvp) against central differences of the first-order graphs.

use symplode_codegen::ad::check::{Point, check_jvp, check_vjp};
use symplode_codegen::ad::{Wrt, jvp, vjp};
use symplode_codegen::ir::{BinaryOp, Graph, GraphBuilder, Type, UnaryOp, Value};

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (−1, 1).
    fn next(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// Builds a random graph from smooth ops, recording which batched values exist.
struct Gen {
    b: GraphBuilder,
    rng: Rng,
    batched: Vec<Value>,
    globals: Vec<Value>,
    params: usize,
}

impl Gen {
    fn width(&self, v: Value) -> usize {
        self.b.ty(v).and_then(Type::width).unwrap()
    }

    fn pick(&mut self) -> Value {
        // Prefer recent values so that graphs get deep.
        let n = self.batched.len();
        let k = n - 1 - self.rng.below(n.min(4));
        self.batched[k]
    }

    fn param(&mut self, shape: &[usize]) -> Value {
        self.params += 1;
        self.b.param(&format!("p{}", self.params), shape).unwrap()
    }

    /// A positive value `1 + x²` (for div, log, recip).
    fn positive(&mut self, x: Value) -> Value {
        let sq = self.b.unary(UnaryOp::Square, x).unwrap();
        let one = self.b.constant(1.0, Type::batched(1)).unwrap();
        self.b.add(one, sq).unwrap()
    }

    /// Adds one random op; returns the new batched value if any.
    fn step(&mut self) -> Option<Value> {
        let x = self.pick();
        let w = self.width(x);
        let v = match self.rng.below(14) {
            0 => {
                let out = 2 + self.rng.below(4);
                let wt = self.param(&[out, w]);
                let bias = (self.rng.below(2) == 0).then(|| self.param(&[out]));
                let y = self.b.dense(x, wt, bias).unwrap();
                self.b.scale(y, 0.7).unwrap()
            }
            1 => {
                let ops = [
                    UnaryOp::Tanh,
                    UnaryOp::Softplus,
                    UnaryOp::Sigmoid,
                    UnaryOp::Silu,
                    UnaryOp::Sin,
                    UnaryOp::Cos,
                    UnaryOp::Neg,
                ];
                let op = ops[self.rng.below(ops.len())];
                self.b.unary(op, x).unwrap()
            }
            2 => {
                let s = self.b.unary(UnaryOp::Tanh, x).unwrap();
                let ops = [UnaryOp::Square, UnaryOp::Exp];
                let op = ops[self.rng.below(2)];
                self.b.unary(op, s).unwrap()
            }
            3 => {
                let p = self.positive(x);
                let op = [UnaryOp::Log, UnaryOp::Recip][self.rng.below(2)];
                self.b.unary(op, p).unwrap()
            }
            4 => {
                // A partner of equal width or of width 1 (broadcast), on either side.
                let same: Vec<Value> = self
                    .batched
                    .iter()
                    .copied()
                    .filter(|&u| self.width(u) == w || self.width(u) == 1)
                    .collect();
                let y = same[self.rng.below(same.len())];
                let (a, c) = if self.rng.below(2) == 0 {
                    (x, y)
                } else {
                    (y, x)
                };
                let op =
                    [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div][self.rng.below(4)];
                if op == BinaryOp::Div {
                    let d = self.positive(c);
                    self.b.div(a, d).unwrap()
                } else {
                    self.b.binary(op, a, c).unwrap()
                }
            }
            5 => {
                let y = self.pick();
                self.b.concat(&[x, y]).unwrap()
            }
            6 if w >= 2 => {
                let start = self.rng.below(w - 1);
                let len = 1 + self.rng.below(w - start);
                self.b.slice(x, start, len).unwrap()
            }
            7 => {
                let divisors: Vec<usize> = (1..=w).filter(|s| w.is_multiple_of(*s)).collect();
                let size = divisors[self.rng.below(divisors.len())];
                let s = self.b.sum_groups(x, size).unwrap();
                if self.rng.below(3) == 0 {
                    s
                } else {
                    self.b.repeat_groups(s, 1 + self.rng.below(3)).unwrap()
                }
            }
            8 => {
                let n = if w.is_multiple_of(2) && self.rng.below(2) == 0 {
                    w / 2
                } else {
                    w
                };
                let len = [1, 3, 5][self.rng.below(3)];
                let coeffs = self.rng.vec(len);
                self.b.stencil(x, &coeffs, n).unwrap()
            }
            9 => {
                let n = if w.is_multiple_of(2) && self.rng.below(2) == 0 {
                    w / 2
                } else {
                    w
                };
                let (cin, cout, k) = (w / n, 1 + self.rng.below(2), [1, 3][self.rng.below(2)]);
                let wt = self.param(&[cout, cin, k]);
                let bias = (self.rng.below(2) == 0).then(|| self.param(&[cout]));
                let y = self.b.conv1d(x, wt, bias, n).unwrap();
                let y = self.b.scale(y, 0.5).unwrap();
                if self.rng.below(2) == 0 {
                    self.b.conv1d_t(y, wt, n).unwrap()
                } else {
                    // The weight gradient as a computed kernel for another convolution.
                    let g = self.b.conv1d_weight_grad(y, x, n, k).unwrap();
                    let g = self.b.scale(g, 0.2).unwrap();
                    self.globals.push(g);
                    self.b.conv1d(x, g, None, n).unwrap()
                }
            }
            10 => {
                // Cross-batch coupling through a computed weight.
                let y = self.pick();
                let g = self.b.batch_outer(y, x).unwrap();
                let g = self.b.scale(g, 0.3).unwrap();
                let g = self.b.unary(UnaryOp::Tanh, g).unwrap();
                self.globals.push(g);
                self.b.dense(x, g, None).unwrap()
            }
            11 => {
                let s = self.b.batch_sum(x).unwrap();
                let s = self.b.scale(s, 0.4).unwrap();
                let p = self.param(&[w]);
                let s = self.b.mul(s, p).unwrap();
                self.globals.push(s);
                let r = self.b.broadcast_rows(s).unwrap();
                self.b.mul(r, x).unwrap()
            }
            12 => {
                let m = 2 + self.rng.below(3);
                let wt = self.param(&[w, m]);
                self.b.dense_nt(x, wt).unwrap()
            }
            _ => {
                let c = self.rng.next();
                self.b.scale(x, c).unwrap()
            }
        };
        Some(v)
    }
}

/// A random graph: inputs `x [B,d]` and `aux [B,2]`, the time, 6–12 random ops, two batched
/// outputs and sometimes a global one.
fn random_graph(seed: u64) -> Graph {
    let mut rng = Rng(seed);
    let d = 2 + rng.below(3);
    let mut b = GraphBuilder::new();
    let x = b.input("x", d).unwrap();
    let aux = b.input("aux", 2).unwrap();
    let t = b.time().unwrap();
    let mut rg = Gen {
        b,
        rng,
        batched: vec![x, aux, t],
        globals: Vec::new(),
        params: 0,
    };
    let steps = 6 + rg.rng.below(7);
    for _ in 0..steps {
        if let Some(v) = rg.step() {
            rg.batched.push(v);
        }
    }
    let n = rg.batched.len();
    let mut outputs = vec![rg.batched[n - 1], rg.batched[n - 2]];
    if let Some(&g) = rg.globals.last() {
        outputs.push(g);
    }
    rg.b.finish(&outputs).unwrap()
}

fn random_point(g: &Graph, batch: usize, rng: &mut Rng) -> Point {
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

fn random_cotangents(g: &Graph, batch: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
    g.output_types()
        .iter()
        .map(|t| rng.vec(t.len_for_batch(batch)))
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

const H: f64 = 1e-5;
const TOL: f64 = 2e-7;

/// `vjp(g)` wrt everything against the finite-difference gradient of `⟨ū, g(z)⟩`.
fn vjp_matches_fd(g: &Graph, rng: &mut Rng, what: &str) {
    let p = random_point(g, 3, rng);
    let cot = random_cotangents(g, 3, rng);
    let c = check_vjp(g, &p, &cot, H).unwrap();
    assert_eq!(c.derived.len(), p.flat().len(), "{what}");
    let err = c.error();
    assert!(
        err < TOL,
        "{what}: vjp vs finite differences: error {err:e}\n{g}"
    );
}

/// `jvp(g)` along everything against the finite-difference directional derivative.
fn jvp_matches_fd(g: &Graph, rng: &mut Rng, what: &str) {
    let p = random_point(g, 3, rng);
    let dir = random_point(g, 3, rng);
    let c = check_jvp(g, &p, &dir, H).unwrap();
    let err = c.error();
    assert!(
        err < TOL,
        "{what}: jvp vs finite differences: error {err:e}\n{g}"
    );
}

/// The derivative graphs reproduce the original outputs first.
fn originals_are_kept(g: &Graph, rng: &mut Rng) {
    let p = random_point(g, 2, rng);
    let y = p.eval(g).unwrap();
    let n = y.len();
    let mut q = p.clone();
    for (t, c) in g.output_types().iter().zip(random_cotangents(g, 2, rng)) {
        if t.is_batched() {
            q.inputs.push(c);
        } else {
            q.params.extend(c);
        }
    }
    assert_eq!(q.eval(&vjp(g, &Wrt::all(g)).unwrap()).unwrap()[..n], y[..]);
    let dir = random_point(g, 2, rng);
    let mut q = p.clone();
    q.inputs.extend(dir.inputs);
    q.inputs.push(dir.times);
    q.params.extend(dir.params);
    assert_eq!(q.eval(&jvp(g, &Wrt::all(g)).unwrap()).unwrap()[..n], y[..]);
}

/// ⟨ū, J v⟩ = ⟨Jᵀ ū, v⟩ to rounding.
fn check_agreement(g: &Graph, rng: &mut Rng) {
    let batch = 2;
    let p = random_point(g, batch, rng);
    let dir = random_point(g, batch, rng);
    let cot = random_cotangents(g, batch, rng);
    let n_out = g.outputs().len();

    let mut q = p.clone();
    q.inputs.extend(dir.inputs.iter().cloned());
    q.inputs.push(dir.times.clone());
    q.params.extend(&dir.params);
    let jv = q.eval(&jvp(g, &Wrt::all(g)).unwrap()).unwrap();
    let lhs: f64 = jv[n_out..].iter().zip(&cot).map(|(a, c)| dot(a, c)).sum();

    let mut q = p.clone();
    for (t, c) in g.output_types().iter().zip(&cot) {
        if t.is_batched() {
            q.inputs.push(c.clone());
        } else {
            q.params.extend(c);
        }
    }
    let jtu = q.eval(&vjp(g, &Wrt::all(g)).unwrap()).unwrap()[n_out..].concat();
    let rhs = dot(&jtu, &dir.flat());
    assert!(
        (lhs - rhs).abs() <= 1e-12 * (1.0 + lhs.abs()),
        "⟨ū, Jv⟩ = {lhs} but ⟨Jᵀū, v⟩ = {rhs}\n{g}"
    );
}

#[test]
fn first_order_against_finite_differences() {
    for seed in 0..40 {
        let g = random_graph(seed);
        let mut rng = Rng(1000 + seed);
        vjp_matches_fd(&g, &mut rng, &format!("seed {seed}"));
        jvp_matches_fd(&g, &mut rng, &format!("seed {seed}"));
    }
}

#[test]
fn vjp_and_jvp_agree() {
    for seed in 0..40 {
        let g = random_graph(seed);
        check_agreement(&g, &mut Rng(2000 + seed));
    }
}

#[test]
fn vjp_of_jvp_and_of_vjp_against_finite_differences() {
    for seed in 0..12 {
        let g = random_graph(seed);
        let mut rng = Rng(3000 + seed);
        let j = jvp(&g, &Wrt::all(&g)).unwrap();
        vjp_matches_fd(&j, &mut rng, &format!("vjp∘jvp, seed {seed}"));
        let v = vjp(&g, &Wrt::all(&g)).unwrap();
        vjp_matches_fd(&v, &mut rng, &format!("vjp∘vjp, seed {seed}"));
    }
}

#[test]
fn jvp_of_vjp_and_of_jvp_against_finite_differences() {
    for seed in 12..24 {
        let g = random_graph(seed);
        let mut rng = Rng(4000 + seed);
        let v = vjp(&g, &Wrt::all(&g)).unwrap();
        jvp_matches_fd(&v, &mut rng, &format!("jvp∘vjp, seed {seed}"));
        let j = jvp(&g, &Wrt::all(&g)).unwrap();
        jvp_matches_fd(&j, &mut rng, &format!("jvp∘jvp, seed {seed}"));
    }
}

#[test]
fn partial_requests_select_outputs() {
    let g = random_graph(7);
    let wrt = Wrt {
        inputs: vec![1],
        params: vec![0],
        time: false,
    };
    let v = vjp(&g, &wrt).unwrap();
    let full = vjp(&g, &Wrt::all(&g)).unwrap();
    let mut rng = Rng(5);
    let mut q = random_point(&g, 2, &mut rng);
    for (t, c) in g
        .output_types()
        .iter()
        .zip(random_cotangents(&g, 2, &mut rng))
    {
        if t.is_batched() {
            q.inputs.push(c);
        } else {
            q.params.extend(c);
        }
    }
    let n = g.outputs().len();
    let part = q.eval(&v).unwrap();
    let all = q.eval(&full).unwrap();
    assert_eq!(part.len(), n + 2);
    assert_eq!(part[n], all[n + 1]); // aux
    assert_eq!(part[n + 1], all[n + 3]); // first parameter (after x, aux, t)
}

#[test]
fn derivative_graphs_keep_the_original_outputs() {
    for seed in 0..10 {
        originals_are_kept(&random_graph(seed), &mut Rng(6000 + seed));
    }
}

#[test]
fn unary_derivatives_of_every_op() {
    // Each unary op alone, first and second order, at points away from kinks.
    for op in UnaryOp::ALL {
        let mut b = GraphBuilder::new();
        let x = b.input("x", 3).unwrap();
        let y = if matches!(op, UnaryOp::Log | UnaryOp::Recip) {
            let sq = b.unary(UnaryOp::Square, x).unwrap();
            let one = b.constant(1.0, Type::batched(1)).unwrap();
            let pos = b.add(sq, one).unwrap();
            b.unary(op, pos).unwrap()
        } else {
            b.unary(op, x).unwrap()
        };
        let g = b.finish(&[y]).unwrap();
        let mut rng = Rng(6);
        vjp_matches_fd(&g, &mut rng, op.name());
        jvp_matches_fd(&g, &mut rng, op.name());
        let v = vjp(&g, &Wrt::all(&g)).unwrap();
        vjp_matches_fd(&v, &mut rng, op.name());
    }
}
