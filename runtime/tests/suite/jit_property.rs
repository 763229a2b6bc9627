//! Property test: random valid explicit tableaux (random rational coefficients, consistent c,
//! orders 1 to 4, with and without zero weights, trailing zero-weight and FSAL stages,
//! sometimes embedded weights) and random small networks. The JIT symplectic adjoint equals
//! backprop to rounding, and equals the interpreted symplectic adjoint.
#![cfg(feature = "jit")]

use crate::common::*;
use symplode_codegen::tableau::{Q, Tableau, q};
use symplode_runtime::grad::{Problem, losses};
use symplode_runtime::jit::{JitOptions, jit_scheme};
use symplode_runtime::models::{Activation, Mlp, MlpConfig};
use symplode_runtime::rng::Rng;
use symplode_runtime::{Backprop, GradientMethod, Scheme, Stepping, SymplecticAdjoint};

fn zero() -> Q {
    q(0, 1)
}

/// A random rational n/d with |n| ≤ 9, 1 ≤ d ≤ 8; zero with probability `p_zero`.
fn rq(rng: &mut Rng, p_zero: f64) -> Q {
    if rng.uniform() < p_zero {
        return zero();
    }
    let mut n = rng.below(19) as i64 - 9;
    if n == 0 {
        n = 1;
    }
    q(n, rng.below(8) as i64 + 1)
}

fn nonzero(rng: &mut Rng) -> Q {
    rq(rng, 0.0)
}

/// Solves the square system m·x = r exactly (None when singular).
fn solve(mut m: Vec<Vec<Q>>, mut r: Vec<Q>) -> Option<Vec<Q>> {
    let n = r.len();
    for col in 0..n {
        let p = (col..n).find(|&i| m[i][col] != zero())?;
        m.swap(col, p);
        r.swap(col, p);
        for i in 0..n {
            if i != col && m[i][col] != zero() {
                let f = &m[i][col] / &m[col][col];
                for j in 0..n {
                    let v = &f * &m[col][j];
                    m[i][j] -= v;
                }
                let v = &f * &r[col];
                r[i] -= v;
            }
        }
    }
    Some((0..n).map(|i| &r[i] / &m[i][i]).collect())
}

/// Quadrature weights with Σ b_i c_i^k = 1/(k+1), k < s.
fn quadrature(c: &[Q]) -> Option<Vec<Q>> {
    let s = c.len();
    let mut m = vec![vec![zero(); s]; s];
    for k in 0..s {
        for i in 0..s {
            let mut p = q(1, 1);
            for _ in 0..k {
                p *= &c[i];
            }
            m[k][i] = p;
        }
    }
    solve(m, (0..s).map(|k| q(1, k as i64 + 1)).collect())
}

fn row_sums(a: &[Vec<Q>]) -> Vec<Q> {
    a.iter()
        .map(|r| r.iter().fold(zero(), |s, v| s + v))
        .collect()
}

/// One attempt at a random tableau of order p (None when the draw is degenerate).
fn attempt(rng: &mut Rng, p: u32) -> Option<(Vec<Vec<Q>>, Vec<Q>)> {
    match p {
        1 => {
            let s = 1 + rng.below(4) as usize;
            let mut a = vec![vec![zero(); s]; s];
            for i in 1..s {
                for j in 0..i {
                    a[i][j] = rq(rng, 0.3);
                }
            }
            let mut b: Vec<Q> = (0..s).map(|_| rq(rng, 0.4)).collect();
            let l = rng.below(s as u64) as usize;
            let rest = b
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != l)
                .fold(zero(), |acc, (_, v)| acc + v);
            b[l] = q(1, 1) - rest;
            Some((a, b))
        }
        2 => {
            if rng.uniform() < 0.5 {
                // Two stages, a21 = α (α = 1/2 gives the zero weight b_1 = 0).
                let alpha = if rng.uniform() < 0.3 {
                    q(1, 2)
                } else {
                    nonzero(rng)
                };
                let b2 = q(1, 1) / (q(2, 1) * &alpha);
                let a = vec![vec![zero(), zero()], vec![alpha, zero()]];
                Some((a, vec![q(1, 1) - &b2, b2]))
            } else {
                let mut a = vec![vec![zero(); 3]; 3];
                a[1][0] = nonzero(rng);
                a[2][0] = rq(rng, 0.3);
                a[2][1] = rq(rng, 0.3);
                let c = row_sums(&a);
                let b3 = rq(rng, 0.4);
                let b2 = (q(1, 2) - &b3 * &c[2]) / &c[1];
                let b1 = q(1, 1) - &b2 - &b3;
                Some((a, vec![b1, b2, b3]))
            }
        }
        3 => {
            let (u, v) = (nonzero(rng), nonzero(rng));
            let b = quadrature(&[zero(), u.clone(), v.clone()])?;
            if b[2] == zero() {
                return None;
            }
            let a32 = q(1, 1) / (q(6, 1) * &b[2] * &u);
            let a = vec![
                vec![zero(); 3],
                vec![u, zero(), zero()],
                vec![&v - &a32, a32, zero()],
            ];
            Some((a, b))
        }
        _ => {
            let (u, v) = (nonzero(rng), nonzero(rng));
            let one = q(1, 1);
            let b = quadrature(&[zero(), u.clone(), v.clone(), one.clone()])?;
            if b[2] == zero() || b[3] == zero() || v == one {
                return None;
            }
            let p = &one / (q(24, 1) * &b[2] * (&one - &v));
            let a32 = &p / &u;
            let r = (q(1, 6) - &b[2] * &p) / &b[3];
            let a43 = &one / (q(24, 1) * &b[3] * &p);
            let a42 = (&r - &a43 * &v) / &u;
            let a41 = &one - &a42 - &a43;
            let a = vec![
                vec![zero(); 4],
                vec![u, zero(), zero(), zero()],
                vec![&v - &a32, a32, zero(), zero()],
                vec![a41, a42, a43, zero()],
            ];
            Some((a, b))
        }
    }
}

/// A random valid tableau of a random order 1–4, checked exactly by `Tableau::new_checked`.
fn random_tableau(rng: &mut Rng, case: usize) -> Tableau {
    for _ in 0..200 {
        let p = 1 + rng.below(4) as u32;
        let Some((mut a, mut b)) = attempt(rng, p) else {
            continue;
        };
        // Sometimes a trailing zero-weight stage: random, or FSAL (its row is b).
        let extra = rng.below(3);
        if extra > 0 {
            let s = b.len();
            let row: Vec<Q> = if extra == 1 {
                b.clone()
            } else {
                (0..s).map(|_| rq(rng, 0.3)).collect()
            };
            for r in &mut a {
                r.push(zero());
            }
            let mut row = row;
            row.push(zero());
            a.push(row);
            b.push(zero());
        }
        let s = b.len();
        // Sometimes embedded weights: forward Euler (order 1) against order p ≥ 2.
        let b_hat = (p >= 2 && rng.uniform() < 0.5).then(|| {
            let mut e = vec![zero(); s];
            e[0] = q(1, 1);
            e
        });
        let emb = b_hat.as_ref().map(|_| 1);
        let c = row_sums(&a);
        match Tableau::new_checked(&format!("random{case}"), a, b, c, b_hat, p, emb) {
            Ok(t) => return t,
            Err(_) => continue,
        }
    }
    panic!("case {case}: no valid tableau drawn");
}

fn random_net(rng: &mut Rng) -> Mlp<f64> {
    let acts = [
        Activation::Tanh,
        Activation::Softplus,
        Activation::Sigmoid,
        Activation::Silu,
    ];
    let layers = 1 + rng.below(2) as usize;
    Mlp::new(
        MlpConfig {
            dim: 1 + rng.below(3) as usize,
            hidden: (0..layers).map(|_| 2 + rng.below(5) as usize).collect(),
            activation: acts[rng.below(4) as usize],
            time_input: rng.uniform() < 0.5,
        },
        rng.next_u64(),
    )
    .unwrap()
}

#[test]
fn jit_symplectic_adjoint_equals_backprop_on_random_tableaux() {
    let mut orders = [0usize; 5];
    let (mut zero_weights, mut adaptive) = (0, 0);
    for case in 0..48 {
        let mut rng = Rng::new(0x5eed + case as u64);
        let t = random_tableau(&mut rng, case);
        orders[t.order() as usize] += 1;
        if t.b().iter().any(|b| *b == zero()) {
            zero_weights += 1;
        }
        let net = random_net(&mut rng);
        let batch = 1 + rng.below(4) as usize;
        let x0 = random_state::<f64>(batch * net_dim(&net), rng.next_u64());
        let opts = JitOptions {
            verify: true,
            fma: rng.uniform() < 0.7,
            ..JitOptions::default()
        };
        let (jit, _) = jit_scheme::<f64>(&t, &opts).unwrap_or_else(|e| panic!("{t}: {e}"));
        let plain = Scheme::<f64>::new(&t).unwrap();
        let stepping = if t.b_hat().is_some() && rng.uniform() < 0.5 {
            adaptive += 1;
            Stepping::adaptive(1e-3, 1e-5)
        } else {
            Stepping::fixed(1 + rng.below(4) as usize)
        };
        let grad = |m: &dyn GradientMethod<f64>, sch: &Scheme<f64>| {
            m.gradient(
                &Problem::single(&net, &[0.0, 0.5], sch, stepping.clone(), &x0),
                &mut losses::mean_sq_final(net_dim(&net)),
            )
            .unwrap_or_else(|e| panic!("case {case} {}: {e}\n{t}", m.name()))
        };
        let sa = grad(&SymplecticAdjoint, &jit);
        let bp = grad(&Backprop, &jit);
        let sa_plain = grad(&SymplecticAdjoint, &plain);
        let problem = Problem::single(&net, &[0.0, 0.5], &plain, stepping.clone(), &x0);
        let r = worst_rel(&problem, &sa, &bp);
        assert!(
            r < 1e-11,
            "case {case}: JIT symplectic vs backprop {r:e}\n{t}"
        );
        let r = worst_rel(&problem, &sa, &sa_plain);
        assert!(r < 1e-11, "case {case}: JIT vs interpreted {r:e}\n{t}");
    }
    // The draw covers what it claims.
    assert!(orders[1..].iter().all(|&n| n > 0), "orders {orders:?}");
    assert!(
        zero_weights > 0 && adaptive > 0,
        "{zero_weights} {adaptive}"
    );
}

fn net_dim(m: &Mlp<f64>) -> usize {
    use symplode_runtime::Dynamics;
    m.dim()
}
