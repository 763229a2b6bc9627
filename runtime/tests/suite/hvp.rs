//! Hessian-vector products through the symplectic adjoint (`grad::hvp`) against independent
//! oracles: eighth-order central differences of backprop's gradient on the same frozen grid
//! (every built-in tableau, fixed and adaptive, one and two components), the closed-form
//! Hessian of a scalar linear ODE's discrete solution, symmetry, the tangent system against
//! differences of the hand-written `Mlp`, memory against the prediction, and bad input.

use crate::common::*;
use symplode_codegen::ir::GraphBuilder;
use symplode_runtime::grad::hvp::{
    Direction, HvpResult, MeanSqFinal, MeanSquaredError, SecondOrderLoss, hvp, hvp_predict,
    hvp_sizes,
};
use symplode_runtime::grad::{Component, GradientMethod, Problem, forward_on_grids};
use symplode_runtime::interp::Interpreted;
use symplode_runtime::models::{ExpDecay, Mlp};
use symplode_runtime::rng::Rng;
use symplode_runtime::solver::Grid;
use symplode_runtime::{Backprop, Dynamics, Scheme, SolveError, Stepping};

/// A random direction of the problem's shapes.
fn random_direction(problem: &Problem<'_, f64>, seed: u64) -> Direction<f64> {
    let mut rng = Rng::new(seed);
    let mut v = Direction::zeros(problem);
    for x in v.x0.iter_mut().chain(v.theta.iter_mut().flatten()) {
        *x = rng.uniform_range(-1.0, 1.0);
    }
    v
}

/// The squared error against random targets: a loss with a Hessian of its own.
fn loss_for(problem: &Problem<'_, f64>, seed: u64) -> MeanSquaredError<f64> {
    MeanSquaredError {
        targets: random_cotangents(problem, seed),
        dim: problem.dim(),
    }
}

/// Backprop's gradient (dx0, then every component's dθ, flat) at x0 + ε v_x0, θ + ε v_θ, on the
/// frozen `grids`.
fn backprop_gradient(
    nets: &[Mlp<f64>],
    x0: &[f64],
    sch: &Scheme<f64>,
    stepping: &Stepping,
    times: &[Vec<f64>],
    grids: &[Grid],
    loss: &mut dyn SecondOrderLoss<f64>,
    v: &Direction<f64>,
    eps: f64,
) -> Vec<f64> {
    let moved: Vec<Mlp<f64>> = nets
        .iter()
        .zip(&v.theta)
        .map(|(n, t)| {
            let mut n = n.clone();
            for (p, d) in n.params_mut().iter_mut().zip(t) {
                *p += eps * d;
            }
            n
        })
        .collect();
    let x: Vec<f64> = x0.iter().zip(&v.x0).map(|(a, d)| a + eps * d).collect();
    let problem = Problem {
        chain: moved
            .iter()
            .zip(times)
            .map(|(n, t)| Component {
                dynamics: dyn_ref(n),
                times: t.clone(),
            })
            .collect(),
        scheme: sch,
        stepping: stepping.clone(),
        x0: &x,
    };
    let pass = forward_on_grids(&Backprop, &problem, grids).expect("backprop on the grid");
    let mut cot = pass.zero_cotangents();
    let value = loss.value_and_cotangents(pass.outputs(), &mut cot);
    let g = Backprop
        .backward(pass, &cot, value)
        .expect("backprop backward");
    let mut flat = g.dx0;
    for t in g.dtheta {
        flat.extend(t);
    }
    flat
}

/// H·v flat (hv_x0, then every component's hv_θ).
fn flat_hv(r: &HvpResult<f64>) -> Vec<f64> {
    let mut v = r.hv_x0.clone();
    for t in &r.hv_theta {
        v.extend_from_slice(t);
    }
    v
}

fn flat_dir(v: &Direction<f64>) -> Vec<f64> {
    let mut f = v.x0.clone();
    for t in &v.theta {
        f.extend_from_slice(t);
    }
    f
}

/// Eighth-order central difference of backprop's gradient along v (truncation O(h⁸)).
fn differenced(grad: impl Fn(f64) -> Vec<f64>, h: f64) -> Vec<f64> {
    const W: [f64; 4] = [4.0 / 5.0, -1.0 / 5.0, 4.0 / 105.0, -1.0 / 280.0];
    let mut out: Vec<f64> = Vec::new();
    for (k, w) in W.iter().enumerate() {
        let s = (k + 1) as f64 * h;
        let (p, m) = (grad(s), grad(-s));
        if out.is_empty() {
            out = vec![0.0; p.len()];
        }
        for ((o, a), b) in out.iter_mut().zip(&p).zip(&m) {
            *o += w * (a - b) / h;
        }
    }
    out
}

/// Checks hvp against differences of backprop for one tableau and stepping; returns the error.
fn check_against_differences(name: &str, adaptive: bool, components: usize) -> f64 {
    let sch = scheme::<f64>(name);
    let nets: Vec<Mlp<f64>> = (0..components)
        .map(|m| mlp::<f64>(2, 6, 20 + m as u64))
        .collect();
    let x0 = random_state::<f64>(2 * 3, 5);
    let times: Vec<Vec<f64>> = (0..components)
        .map(|m| vec![m as f64, m as f64 + 0.4, m as f64 + 1.0])
        .collect();
    let stepping = stepping_for(name, adaptive);
    let problem = Problem {
        chain: nets
            .iter()
            .zip(&times)
            .map(|(n, t)| Component {
                dynamics: dyn_ref(n),
                times: t.clone(),
            })
            .collect(),
        scheme: &sch,
        stepping: stepping.clone(),
        x0: &x0,
    };
    let v = random_direction(&problem, 9);
    let mut loss = loss_for(&problem, 11);
    let r = hvp(&problem, &mut loss, &v).unwrap_or_else(|e| panic!("{name}: {e}"));
    let steps: usize = r.grids.iter().map(|g| g.steps()).sum();
    assert_eq!(
        r.stats.accepted, steps,
        "{name}: accepted steps are the frozen grid's"
    );
    // The gradient by-product equals backprop's on the same grid.
    let g0 = backprop_gradient(
        &nets, &x0, &sch, &stepping, &times, &r.grids, &mut loss, &v, 0.0,
    );
    let mut g = r.dx0.clone();
    for t in &r.dtheta {
        g.extend_from_slice(t);
    }
    assert!(rel(&g, &g0) <= 1e-12, "{name}: gradient {:e}", rel(&g, &g0));
    let fd = differenced(
        |e| {
            backprop_gradient(
                &nets,
                &x0,
                &sch,
                &stepping,
                &times,
                &r.grids,
                &mut loss.clone(),
                &v,
                e,
            )
        },
        1e-2,
    );
    let err = rel(&flat_hv(&r), &fd);
    eprintln!(
        "{name} adaptive={adaptive} M={components}: steps {:?}, rejected {}, |H·v − differences| / |H·v| = {err:.1e}",
        r.grids.iter().map(|g| g.steps()).collect::<Vec<_>>(),
        r.stats.rejected
    );
    err
}

#[test]
fn equals_differences_of_backprop_fixed_every_tableau() {
    for name in TABLEAUX {
        let err = check_against_differences(name, false, 1);
        assert!(err <= 1e-10, "{name} fixed: H·v differs by {err:e}");
    }
}

#[test]
fn equals_differences_of_backprop_adaptive_frozen_grid() {
    for name in ADAPTIVE {
        let err = check_against_differences(name, true, 1);
        assert!(err <= 1e-10, "{name} adaptive: H·v differs by {err:e}");
    }
}

#[test]
fn equals_differences_of_backprop_two_components() {
    for (name, adaptive) in [("rk4", false), ("dopri5", true), ("bosh3", true)] {
        let err = check_against_differences(name, adaptive, 2);
        assert!(err <= 1e-10, "{name} M=2: H·v differs by {err:e}");
    }
}

#[test]
fn symmetric() {
    for (name, adaptive) in [("dopri5", true), ("rk4", false), ("tsit5", false)] {
        let sch = scheme::<f64>(name);
        let nets = [mlp::<f64>(2, 6, 3)];
        let x0 = random_state::<f64>(2 * 4, 1);
        let problem = Problem::single(
            &nets[0],
            &[0.0, 0.5, 1.2],
            &sch,
            stepping_for(name, adaptive),
            &x0,
        );
        let (v, w) = (random_direction(&problem, 2), random_direction(&problem, 3));
        let mut loss = loss_for(&problem, 4);
        let hv = flat_hv(&hvp(&problem, &mut loss, &v).unwrap());
        let hw = flat_hv(&hvp(&problem, &mut loss, &w).unwrap());
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let (a, b) = (dot(&flat_dir(&w), &hv), dot(&flat_dir(&v), &hw));
        assert!(
            (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
            "{name}: wᵀHv = {a}, vᵀHw = {b}"
        );
    }
}

/// ẋ = a·x as an interpreted graph (one 1×1 weight, no bias).
fn scalar_linear(a: f64) -> Interpreted<f64> {
    let mut b = GraphBuilder::new();
    let x = b.input("x", 1).unwrap();
    let w = b.param("a", &[1, 1]).unwrap();
    let y = b.dense(x, w, None).unwrap();
    Interpreted::new(b.finish(&[y]).unwrap(), vec![a]).unwrap()
}

/// The stability polynomial of the tableau: R(z) = 1 + Σ_k z^k bᵀA^{k−1}𝟙, coefficients r_k.
fn stability_polynomial(sch: &Scheme<f64>) -> Vec<f64> {
    let s = sch.stages();
    let mut r = vec![1.0];
    let mut v = vec![1.0; s]; // A^{k−1} 𝟙
    for _ in 0..s {
        r.push((0..s).map(|i| sch.b(i) * v[i]).sum());
        v = (0..s)
            .map(|i| (0..s).map(|j| sch.a(i, j) * v[j]).sum())
            .collect();
    }
    r
}

#[test]
fn linear_ode_analytic_hessian() {
    // L = x_N² with x_N = P(a) x0, P(a) = R(h a)^N: every block in closed form.
    let (a, x0, n, t1) = (-0.7, 1.3, 6usize, 1.5);
    for name in TABLEAUX {
        let sch = scheme::<f64>(name);
        let r = stability_polynomial(&sch);
        let h = t1 / n as f64;
        let z = h * a;
        let poly = |c: &[f64]| c.iter().rev().fold(0.0, |acc, &k| acc * z + k);
        let d1: Vec<f64> = (1..r.len()).map(|k| k as f64 * r[k]).collect();
        let d2: Vec<f64> = (2..r.len()).map(|k| (k * (k - 1)) as f64 * r[k]).collect();
        let (rv, r1, r2) = (poly(&r), poly(&d1), poly(&d2));
        let nn = n as f64;
        let p = rv.powi(n as i32);
        let p1 = nn * rv.powi(n as i32 - 1) * r1 * h;
        let p2 = nn * (nn - 1.0) * rv.powi(n as i32 - 2) * (r1 * h).powi(2)
            + nn * rv.powi(n as i32 - 1) * r2 * h * h;
        let h_xx = 2.0 * p * p;
        let h_xa = 4.0 * p * p1 * x0;
        let h_aa = 2.0 * (p1 * p1 + p * p2) * x0 * x0;
        let f = scalar_linear(a);
        let xs = [x0];
        let problem = Problem::single(&f, &[0.0, t1], &sch, Stepping::fixed(n), &xs);
        let mut loss = MeanSqFinal { dim: 1 };
        for (v, expect) in [((1.0, 0.0), (h_xx, h_xa)), ((0.0, 1.0), (h_xa, h_aa))] {
            let dir = Direction {
                x0: vec![v.0],
                theta: vec![vec![v.1]],
            };
            let res = hvp(&problem, &mut loss, &dir).unwrap();
            let got = (res.hv_x0[0], res.hv_theta[0][0]);
            for (g, e) in [(got.0, expect.0), (got.1, expect.1)] {
                assert!(
                    (g - e).abs() <= 1e-12 * e.abs().max(1e-300),
                    "{name}: H·{v:?} = {got:?}, analytic {expect:?}"
                );
            }
            assert!((res.loss - (p * x0).powi(2)).abs() <= 1e-13 * res.loss);
        }
    }
}

#[test]
fn mlp_tangent_system_matches_differences_of_the_hand_written_mlp() {
    let net = mlp::<f64>(3, 5, 8);
    let batch = 4;
    let x = random_state::<f64>(3 * batch, 1);
    let xd = random_state::<f64>(3 * batch, 2);
    let mu = random_state::<f64>(3 * batch, 3);
    let mud = random_state::<f64>(3 * batch, 4);
    let pd = random_state::<f64>(net.n_params(), 5);
    let sys = net.second_order().unwrap().tangent_system(&pd).unwrap();
    let t = 0.3;
    let n = 3 * batch;
    let (mut f, mut fd) = (vec![0.0; n], vec![0.0; n]);
    sys.jvp(t, &x, &xd, &mut f, &mut fd);
    let (mut gx, mut gxd) = (vec![0.0; n], vec![0.0; n]);
    let (mut gp, mut gpd) = (vec![0.0; net.n_params()], vec![0.0; net.n_params()]);
    sys.vjp_jvp(t, &x, &xd, &mu, &mud, &mut gx, &mut gxd, &mut gp, &mut gpd);
    // The hand-written Mlp's eval and vjp at (x + εẋ, θ + εθ̇), cotangent μ + εμ̇.
    let at = |e: f64| {
        let mut m = net.clone();
        for (p, d) in m.params_mut().iter_mut().zip(&pd) {
            *p += e * d;
        }
        let xe: Vec<f64> = x.iter().zip(&xd).map(|(a, b)| a + e * b).collect();
        let me: Vec<f64> = mu.iter().zip(&mud).map(|(a, b)| a + e * b).collect();
        let mut scratch = vec![0.0; m.scratch_len(batch)];
        let mut y = vec![0.0; n];
        m.eval(t, &xe, &mut y, &mut scratch);
        let mut g = vec![0.0; n];
        let mut q = vec![0.0; m.n_params()];
        m.vjp(t, &xe, &me, &mut g, &mut q, &mut scratch);
        let mut all = y;
        all.extend(g);
        all.extend(q);
        all
    };
    let base = at(0.0);
    let fdiff = differenced(at, 1e-2);
    let mut ours = f.clone();
    ours.extend(&gx);
    ours.extend(&gp);
    assert!(rel(&ours, &base) <= 1e-13, "values {:e}", rel(&ours, &base));
    let mut tang = fd.clone();
    tang.extend(&gxd);
    tang.extend(&gpd);
    assert!(
        rel(&tang, &fdiff) <= 1e-10,
        "tangents {:e}",
        rel(&tang, &fdiff)
    );
}

#[test]
fn memory_is_predicted() {
    for (name, adaptive) in [
        ("rk4", false),
        ("dopri5", false),
        ("dopri5", true),
        ("bosh3", true),
    ] {
        let sch = scheme::<f64>(name);
        let net = mlp::<f64>(2, 16, 1);
        let x0 = random_state::<f64>(2 * 32, 2);
        let problem = Problem::single(
            &net,
            &[0.0, 0.5, 1.0],
            &sch,
            stepping_for(name, adaptive),
            &x0,
        );
        let v = random_direction(&problem, 3);
        let r = hvp(&problem, &mut loss_for(&problem, 4), &v).unwrap();
        let steps: Vec<usize> = r.grids.iter().map(|g| g.steps()).collect();
        let predicted = hvp_predict(&hvp_sizes(&problem, &steps).unwrap());
        let s = &r.stats;
        assert_eq!(
            (
                predicted.checkpoint_bytes,
                predicted.graph_bytes,
                predicted.workspace_bytes
            ),
            (
                s.peak_checkpoint_bytes,
                s.peak_graph_bytes,
                s.peak_workspace_bytes
            ),
            "{name} adaptive={adaptive}"
        );
        assert!(s.peak_total_bytes <= predicted.total());
        // Step states and their tangents: 2·N states of the original problem, + S stage pairs.
        let n: usize = steps.iter().sum();
        let state = x0.len() * 8;
        assert_eq!(
            s.peak_checkpoint_bytes,
            2 * state * (n + sch.effective_stages()),
            "{name}: checkpoints"
        );
    }
}

#[test]
fn dynamics_without_second_derivatives_are_a_typed_error() {
    let decay = ExpDecay::<f64>::new(vec![0.5, 1.0]).unwrap();
    let sch = scheme::<f64>("rk4");
    let x0 = [1.0, 2.0];
    let problem = Problem::single(&decay, &[0.0, 1.0], &sch, Stepping::fixed(4), &x0);
    let v = Direction::zeros(&problem);
    let e = hvp(&problem, &mut MeanSqFinal { dim: 2 }, &v).unwrap_err();
    assert!(matches!(e, SolveError::NoSecondOrder(0)), "{e}");
    assert!(e.to_string().contains("component 0"), "{e}");
}

#[test]
fn bad_directions_are_errors() {
    let net = mlp::<f64>(2, 4, 1);
    let sch = scheme::<f64>("rk4");
    let x0 = [1.0, 2.0];
    let problem = Problem::single(&net, &[0.0, 1.0], &sch, Stepping::fixed(4), &x0);
    let mut loss = MeanSqFinal { dim: 2 };
    let mut v = Direction::zeros(&problem);
    v.x0.push(0.0);
    let e = hvp(&problem, &mut loss, &v).unwrap_err().to_string();
    assert!(e.contains("v_x0"), "{e}");
    let mut v = Direction::zeros(&problem);
    v.theta[0].pop();
    let e = hvp(&problem, &mut loss, &v).unwrap_err().to_string();
    assert!(e.contains("component 0"), "{e}");
    let mut v = Direction::zeros(&problem);
    v.theta[0][3] = f64::NAN;
    let e = hvp(&problem, &mut loss, &v).unwrap_err().to_string();
    assert!(
        e.contains("layers.0.weight.tangent") && e.contains("element 3"),
        "{e}"
    );
}

#[test]
fn f32_agrees_with_f64() {
    let net64 = mlp::<f64>(2, 6, 3);
    let net32: Mlp<f32> = net64.cast();
    let x64 = random_state::<f64>(2 * 4, 1);
    let x32: Vec<f32> = x64.iter().map(|&x| x as f32).collect();
    let (s64, s32) = (scheme::<f64>("rk4"), scheme::<f32>("rk4"));
    let p64 = Problem::single(&net64, &[0.0, 1.0], &s64, Stepping::fixed(8), &x64);
    let p32 = Problem::single(&net32, &[0.0, 1.0], &s32, Stepping::fixed(8), &x32);
    let v64 = random_direction(&p64, 2);
    let v32 = Direction {
        x0: v64.x0.iter().map(|&x| x as f32).collect(),
        theta: vec![v64.theta[0].iter().map(|&x| x as f32).collect()],
    };
    let r64 = hvp(&p64, &mut MeanSqFinal { dim: 2 }, &v64).unwrap();
    let r32 = hvp(&p32, &mut MeanSqFinal { dim: 2 }, &v32).unwrap();
    let a: Vec<f64> = r32
        .hv_x0
        .iter()
        .chain(&r32.hv_theta[0])
        .map(|&x| x as f64)
        .collect();
    let err = rel(&a, &flat_hv(&r64));
    assert!(err <= 1e-4, "f32 H·v differs from f64 by {err:e}");
    assert_eq!(
        r32.stats.peak_checkpoint_bytes * 2,
        r64.stats.peak_checkpoint_bytes
    );
}
