//! An independent oracle for `grad::hvp`: backprop written by hand in this file (a
//! one-hidden-layer tanh MLP, an explicit Runge–Kutta solve on a given grid, reverse mode
//! through every stage) and run on dual numbers seeded with the direction v. The dual part of
//! the gradient is H·v of the same discrete solution, exact to rounding (forward over reverse,
//! sharing no code with the runtime beyond the tableau coefficients).

use std::ops::{Add, Mul, Sub};

use crate::common::*;
use symplode_runtime::grad::Problem;
use symplode_runtime::grad::hvp::{Direction, MeanSquaredError, hvp};
use symplode_runtime::models::{Activation, Mlp, MlpConfig};
use symplode_runtime::rng::Rng;
use symplode_runtime::{Dynamics, Scheme};

/// A dual number v + e·ε with ε² = 0.
#[derive(Clone, Copy, Debug, Default)]
struct D {
    v: f64,
    e: f64,
}

impl D {
    fn c(v: f64) -> D {
        D { v, e: 0.0 }
    }
    fn tanh(self) -> D {
        let t = self.v.tanh();
        D {
            v: t,
            e: self.e * (1.0 - t * t),
        }
    }
}
impl Add for D {
    type Output = D;
    fn add(self, o: D) -> D {
        D {
            v: self.v + o.v,
            e: self.e + o.e,
        }
    }
}
impl Sub for D {
    type Output = D;
    fn sub(self, o: D) -> D {
        D {
            v: self.v - o.v,
            e: self.e - o.e,
        }
    }
}
impl Mul for D {
    type Output = D;
    fn mul(self, o: D) -> D {
        D {
            v: self.v * o.v,
            e: self.e * o.v + self.v * o.e,
        }
    }
}

/// f(x, t) = W₂ tanh(W₁ [x, t] + b₁) + b₂ for one sample, the Mlp's flat layout.
struct Net<'a> {
    d: usize,
    h: usize,
    p: &'a [D],
}

impl Net<'_> {
    fn w1(&self, i: usize, j: usize) -> D {
        self.p[i * (self.d + 1) + j]
    }
    fn b1(&self) -> usize {
        self.h * (self.d + 1)
    }
    fn w2(&self) -> usize {
        self.b1() + self.h
    }
    fn b2(&self) -> usize {
        self.w2() + self.d * self.h
    }
    fn hidden(&self, x: &[D], t: f64) -> Vec<D> {
        (0..self.h)
            .map(|i| {
                let mut z = self.p[self.b1() + i] + self.w1(i, self.d) * D::c(t);
                for j in 0..self.d {
                    z = z + self.w1(i, j) * x[j];
                }
                z.tanh()
            })
            .collect()
    }
    fn eval(&self, x: &[D], t: f64) -> Vec<D> {
        let a = self.hidden(x, t);
        (0..self.d)
            .map(|k| {
                let mut y = self.p[self.b2() + k];
                for i in 0..self.h {
                    y = y + self.p[self.w2() + k * self.h + i] * a[i];
                }
                y
            })
            .collect()
    }
    /// x̄ = (∂f/∂x)ᵀ ȳ, and p̄ += (∂f/∂θ)ᵀ ȳ.
    fn vjp(&self, x: &[D], t: f64, ybar: &[D], pbar: &mut [D]) -> Vec<D> {
        let a = self.hidden(x, t);
        let mut zbar = vec![D::c(0.0); self.h];
        for k in 0..self.d {
            pbar[self.b2() + k] = pbar[self.b2() + k] + ybar[k];
            for i in 0..self.h {
                let w = self.w2() + k * self.h + i;
                pbar[w] = pbar[w] + ybar[k] * a[i];
                zbar[i] = zbar[i] + self.p[w] * ybar[k];
            }
        }
        let mut xbar = vec![D::c(0.0); self.d];
        for i in 0..self.h {
            let z = zbar[i] * (D::c(1.0) - a[i] * a[i]);
            pbar[self.b1() + i] = pbar[self.b1() + i] + z;
            let wt = i * (self.d + 1) + self.d;
            pbar[wt] = pbar[wt] + z * D::c(t);
            for j in 0..self.d {
                let w = i * (self.d + 1) + j;
                pbar[w] = pbar[w] + z * x[j];
                xbar[j] = xbar[j] + self.w1(i, j) * z;
            }
        }
        xbar
    }
}

/// (dL/dx0, dL/dθ) of L = Σ_k ‖x(t_k) − y_k‖² / (K·B) on the grid `t` (outputs at the
/// indices `out_at`), by a hand-written RK solve and reverse sweep in dual numbers.
#[allow(clippy::too_many_arguments)]
fn backprop_dual(
    sch: &Scheme<f64>,
    net: &Net<'_>,
    x0: &[D],
    t: &[f64],
    out_at: &[usize],
    targets: &[Vec<f64>],
) -> (Vec<D>, Vec<D>) {
    let (d, s) = (net.d, sch.stages());
    let batch = x0.len() / d;
    let w = 1.0 / (out_at.len() * batch) as f64;
    let mut xbar_all = Vec::new();
    let mut pbar = vec![D::c(0.0); net.p.len()];
    for b in 0..batch {
        // Forward: keep every step's stage states.
        let mut x = x0[b * d..(b + 1) * d].to_vec();
        let mut stages: Vec<Vec<Vec<D>>> = Vec::new();
        for n in 0..t.len() - 1 {
            let (t0, t1) = (t[n], t[n + 1]);
            let h = t1 - t0;
            let mut xs: Vec<Vec<D>> = Vec::new();
            let mut ks: Vec<Vec<D>> = Vec::new();
            for i in 0..s {
                let mut xi = x.clone();
                for j in 0..i {
                    for q in 0..d {
                        xi[q] = xi[q] + D::c(h * sch.a(i, j)) * ks[j][q];
                    }
                }
                let ti = if sch.c(i) == 1.0 {
                    t1
                } else {
                    t0 + sch.c(i) * h
                };
                ks.push(net.eval(&xi, ti));
                xs.push(xi);
            }
            for i in 0..s {
                for q in 0..d {
                    x[q] = x[q] + D::c(h * sch.b(i)) * ks[i][q];
                }
            }
            stages.push(xs);
        }
        // Replay to get the outputs (the loss needs x(t_k)); then reverse.
        let mut states = vec![x0[b * d..(b + 1) * d].to_vec()];
        for n in 0..t.len() - 1 {
            let h = t[n + 1] - t[n];
            let mut xn = states[n].clone();
            for i in 0..s {
                let ti = if sch.c(i) == 1.0 {
                    t[n + 1]
                } else {
                    t[n] + sch.c(i) * h
                };
                let k = net.eval(&stages[n][i], ti);
                for q in 0..d {
                    xn[q] = xn[q] + D::c(h * sch.b(i)) * k[q];
                }
            }
            states.push(xn);
        }
        let mut lam = vec![D::c(0.0); d];
        for n in (0..t.len() - 1).rev() {
            if let Some(k) = out_at.iter().position(|&o| o == n + 1) {
                for q in 0..d {
                    let r = states[n + 1][q] - D::c(targets[k][b * d + q]);
                    lam[q] = lam[q] + D::c(2.0 * w) * r;
                }
            }
            let (t0, t1) = (t[n], t[n + 1]);
            let h = t1 - t0;
            let mut xbar: Vec<Vec<D>> = vec![Vec::new(); s];
            for i in (0..s).rev() {
                let mut kbar: Vec<D> = lam.iter().map(|&l| D::c(h * sch.b(i)) * l).collect();
                for j in i + 1..s {
                    for q in 0..d {
                        kbar[q] = kbar[q] + D::c(h * sch.a(j, i)) * xbar[j][q];
                    }
                }
                let ti = if sch.c(i) == 1.0 {
                    t1
                } else {
                    t0 + sch.c(i) * h
                };
                xbar[i] = net.vjp(&stages[n][i], ti, &kbar, &mut pbar);
            }
            for xb in &xbar {
                for q in 0..d {
                    lam[q] = lam[q] + xb[q];
                }
            }
        }
        xbar_all.extend(lam);
    }
    (xbar_all, pbar)
}

fn check(name: &str, adaptive: bool) -> f64 {
    let (d, h) = (2, 5);
    let sch = scheme::<f64>(name);
    let cfg = MlpConfig {
        dim: d,
        hidden: vec![h],
        activation: Activation::Tanh,
        time_input: true,
    };
    let net = Mlp::<f64>::new(cfg, 17).unwrap();
    let x0 = random_state::<f64>(d * 3, 2);
    let times = [0.0, 0.4, 1.0];
    let problem = Problem::single(&net, &times, &sch, stepping_for(name, adaptive), &x0);
    let mut rng = Rng::new(5);
    let mut v = Direction::zeros(&problem);
    for x in v.x0.iter_mut().chain(v.theta.iter_mut().flatten()) {
        *x = rng.uniform_range(-1.0, 1.0);
    }
    let targets = random_cotangents(&problem, 6);
    let mut loss = MeanSquaredError {
        targets: targets.clone(),
        dim: d,
    };
    let r = hvp(&problem, &mut loss, &v).unwrap();
    let grid = &r.grids[0];
    let p: Vec<D> = net
        .params()
        .iter()
        .zip(&v.theta[0])
        .map(|(&v, &e)| D { v, e })
        .collect();
    let xd: Vec<D> = x0.iter().zip(&v.x0).map(|(&v, &e)| D { v, e }).collect();
    let tg: Vec<Vec<f64>> = targets[0].iter().map(|s| s.to_vec()).collect();
    let hand = Net { d, h, p: &p };
    let (gx, gp) = backprop_dual(&sch, &hand, &xd, &grid.t, &grid.output_at, &tg);
    let grad: Vec<f64> = gx.iter().chain(&gp).map(|z| z.v).collect();
    let hv: Vec<f64> = gx.iter().chain(&gp).map(|z| z.e).collect();
    let mut ours_g = r.dx0.clone();
    ours_g.extend(&r.dtheta[0]);
    let mut ours_hv = r.hv_x0.clone();
    ours_hv.extend(&r.hv_theta[0]);
    let eg = rel(&ours_g, &grad);
    assert!(
        eg <= 1e-12,
        "{name}: gradient differs from the hand-written backprop by {eg:e}"
    );
    let err = rel(&ours_hv, &hv);
    eprintln!(
        "{name} adaptive={adaptive}: steps {}, |H·v − dual| / |H·v| = {err:.1e}",
        grid.steps()
    );
    err
}

#[test]
fn equals_forward_over_hand_written_backprop_every_tableau() {
    for name in TABLEAUX {
        let err = check(name, false);
        assert!(err <= 1e-12, "{name} fixed: {err:e}");
    }
    for name in ADAPTIVE {
        let err = check(name, true);
        assert!(err <= 1e-12, "{name} adaptive (frozen grid): {err:e}");
    }
}
