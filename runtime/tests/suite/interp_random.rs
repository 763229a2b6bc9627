//! The interpreter against the codegen reference evaluator (`evaluate_f64`) on random graphs
//! over the whole op set (the generator follows codegen/tests/suite/ad_random.rs): eval, vjp and
//! the taped path, with an auxiliary input, cross-batch couplings and computed weights.

use crate::common::rel;
use symplode_codegen::ad::{Wrt, vjp};
use symplode_codegen::ir::eval::evaluate_f64;
use symplode_codegen::ir::{BinaryOp, Graph, GraphBuilder, Type, UnaryOp, Value};
use symplode_runtime::Dynamics;
use symplode_runtime::interp::Interpreted;

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

/// Builds a random graph, recording which batched values exist.
struct Gen {
    b: GraphBuilder,
    rng: Rng,
    batched: Vec<Value>,
    params: usize,
}

impl Gen {
    fn width(&self, v: Value) -> usize {
        self.b.ty(v).and_then(Type::width).unwrap()
    }

    fn pick(&mut self) -> Value {
        let n = self.batched.len();
        let k = n - 1 - self.rng.below(n.min(4));
        self.batched[k]
    }

    fn param(&mut self, shape: &[usize]) -> Value {
        self.params += 1;
        self.b.param(&format!("p{}", self.params), shape).unwrap()
    }

    fn positive(&mut self, x: Value) -> Value {
        let sq = self.b.unary(UnaryOp::Square, x).unwrap();
        let one = self.b.constant(1.0, Type::batched(1)).unwrap();
        self.b.add(one, sq).unwrap()
    }

    fn step(&mut self) -> Value {
        let x = self.pick();
        let w = self.width(x);
        match self.rng.below(14) {
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
                    UnaryOp::Relu,
                    UnaryOp::Elu,
                ];
                let op = ops[self.rng.below(ops.len())];
                self.b.unary(op, x).unwrap()
            }
            2 => {
                let s = self.b.unary(UnaryOp::Tanh, x).unwrap();
                let op = [UnaryOp::Square, UnaryOp::Exp][self.rng.below(2)];
                self.b.unary(op, s).unwrap()
            }
            3 => {
                let p = self.positive(x);
                let op = [UnaryOp::Log, UnaryOp::Recip][self.rng.below(2)];
                self.b.unary(op, p).unwrap()
            }
            4 => {
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
                    let g = self.b.conv1d_weight_grad(y, x, n, k).unwrap();
                    let g = self.b.scale(g, 0.2).unwrap();
                    self.b.conv1d(x, g, None, n).unwrap()
                }
            }
            10 => {
                // Cross-batch coupling through a computed weight.
                let y = self.pick();
                let g = self.b.batch_outer(y, x).unwrap();
                let g = self.b.scale(g, 0.3).unwrap();
                let g = self.b.unary(UnaryOp::Tanh, g).unwrap();
                self.b.dense(x, g, None).unwrap()
            }
            11 => {
                let s = self.b.batch_sum(x).unwrap();
                let s = self.b.scale(s, 0.4).unwrap();
                let p = self.param(&[w]);
                let s = self.b.mul(s, p).unwrap();
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
        }
    }
}

/// A random vector field: inputs `x [B,d]` and `aux [B,2]`, the time, 6–12 random ops, and a
/// dense layer back to `[B,d]` reading the last two values.
fn random_field(seed: u64) -> Graph {
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
        params: 0,
    };
    let steps = 6 + rg.rng.below(7);
    for _ in 0..steps {
        let v = rg.step();
        rg.batched.push(v);
    }
    let n = rg.batched.len();
    let both =
        rg.b.concat(&[rg.batched[n - 1], rg.batched[n - 2]])
            .unwrap();
    let out = rg.b.dense_layer(
        both,
        "out",
        d,
        symplode_codegen::ir::Activation::Identity,
        true,
    );
    let out = out.unwrap();
    rg.b.finish(&[out]).unwrap()
}

fn check(seed: u64) {
    let g = random_field(seed);
    let mut rng = Rng(seed ^ 0xABCD);
    let batch = 1 + rng.below(4);
    let d = g.inputs()[0].width;
    let p = rng.vec(g.param_len());
    let x = rng.vec(batch * d);
    let aux = rng.vec(batch * 2);
    let lam = rng.vec(batch * d);
    let t = rng.next();
    let mut f = Interpreted::new(g.clone(), p.clone()).unwrap();
    f.set_aux(1, &aux).unwrap();
    f.check_aux(batch).unwrap();

    let want = evaluate_f64(&g, batch, &[&x, &aux], t, &p).unwrap();
    let vg = vjp(&g, &Wrt::state_and_params(&g)).unwrap();
    let want_v = evaluate_f64(&vg, batch, &[&x, &aux, &lam], t, &p).unwrap();
    let want_gp: Vec<f64> = want_v[2..].iter().flatten().map(|v| v + 1.0).collect();

    let mut scratch = vec![f64::NAN; f.scratch_len(batch)];
    let mut tape = vec![f64::NAN; f.tape_len(batch)];
    let mut dx = vec![f64::NAN; batch * d];
    f.eval(t, &x, &mut dx, &mut scratch);
    let what = format!("seed {seed} batch {batch}\n{g}");
    assert!(
        rel(&dx, &want[0]) <= 1e-12,
        "eval {:e} {what}",
        rel(&dx, &want[0])
    );

    let mut gx = vec![f64::NAN; batch * d];
    let mut gp = vec![1.0; f.n_params()];
    scratch.fill(f64::NAN);
    f.vjp(t, &x, &lam, &mut gx, &mut gp, &mut scratch);
    assert!(
        rel(&gx, &want_v[1]) <= 1e-12,
        "vjp gx {:e} {what}",
        rel(&gx, &want_v[1])
    );
    assert!(
        rel(&gp, &want_gp) <= 1e-12,
        "vjp gp {:e} {what}",
        rel(&gp, &want_gp)
    );

    let mut dx2 = vec![f64::NAN; batch * d];
    f.eval_taped(t, &x, &mut dx2, &mut tape);
    assert!(rel(&dx2, &want[0]) <= 1e-12, "eval_taped {what}");
    let mut gx2 = vec![f64::NAN; batch * d];
    let mut gp2 = vec![1.0; f.n_params()];
    scratch.fill(f64::NAN);
    f.backward_taped(t, &x, &tape, &lam, &mut gx2, &mut gp2, &mut scratch);
    assert!(rel(&gx2, &want_v[1]) <= 1e-12, "backward gx {what}");
    assert!(rel(&gp2, &want_gp) <= 1e-12, "backward gp {what}");
}

#[test]
fn random_graphs_match_the_reference_evaluator() {
    for seed in 0..300 {
        check(seed);
    }
}
