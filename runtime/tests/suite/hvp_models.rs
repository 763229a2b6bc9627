//! `grad::hvp` on the other second-order models: interpreted CNFs (exact trace, and Hutchinson
//! with its noise as an auxiliary input the tangent system must carry), and the JIT network
//! (feature `jit`), against eighth-order central differences of backprop's gradient on the same
//! frozen grid.

use crate::common::*;
use symplode_codegen::ad::Trace;
use symplode_codegen::ir::{Activation, Graph};
use symplode_runtime::grad::hvp::{Direction, MeanSquaredError, SecondOrderLoss, hvp};
use symplode_runtime::grad::{GradientMethod, Problem, forward_on_grids};
use symplode_runtime::interp::{Interpreted, cnf};
use symplode_runtime::rng::Rng;
use symplode_runtime::{Backprop, Dynamics, Stepping};

/// A 2-D CNF (state width 3) on a ConcatSquash net 2 → 8 → 2.
fn small_cnf(trace: Trace, batch: usize) -> Interpreted<f64> {
    let f = Graph::concat_squash_mlp(2, &[8], Activation::Tanh).unwrap();
    let mut rng = Rng::new(21);
    let p: Vec<f64> = (0..f.param_len())
        .map(|_| 0.5 * rng.uniform_range(-1.0, 1.0))
        .collect();
    let mut m = cnf(&f, trace, p).unwrap();
    if trace == Trace::Hutchinson {
        let eps: Vec<f64> = (0..batch * 2).map(|_| rng.normal()).collect();
        m.set_aux(1, &eps).unwrap();
    }
    m
}

/// |H·v − differences| / |differences| for `model` (cloned and moved for the differences).
fn error_against_differences<D: Dynamics<f64> + Clone>(model: &D, batch: usize, name: &str) -> f64 {
    let sch = scheme::<f64>("dopri5");
    let d = model.dim();
    let x0 = random_state::<f64>(d * batch, 3);
    let times = [0.0, 0.5, 1.0];
    let stepping = Stepping::adaptive(1e-6, 1e-8);
    let problem = Problem::single(model, &times, &sch, stepping.clone(), &x0);
    let mut rng = Rng::new(4);
    let mut v = Direction::zeros(&problem);
    for x in v.x0.iter_mut().chain(v.theta.iter_mut().flatten()) {
        *x = rng.uniform_range(-1.0, 1.0);
    }
    let mut loss = MeanSquaredError {
        targets: random_cotangents(&problem, 6),
        dim: d,
    };
    let r = hvp(&problem, &mut loss, &v).unwrap_or_else(|e| panic!("{name}: {e}"));
    let grad = |eps: f64| -> Vec<f64> {
        let mut m = model.clone();
        for (p, dp) in m.params_mut().iter_mut().zip(&v.theta[0]) {
            *p += eps * dp;
        }
        let x: Vec<f64> = x0.iter().zip(&v.x0).map(|(a, b)| a + eps * b).collect();
        let p = Problem::single(&m, &times, &sch, stepping.clone(), &x);
        let pass = forward_on_grids(&Backprop, &p, &r.grids).unwrap();
        let mut cot = pass.zero_cotangents();
        let value = loss.clone().value_and_cotangents(pass.outputs(), &mut cot);
        let g = Backprop.backward(pass, &cot, value).unwrap();
        g.dx0
            .into_iter()
            .chain(g.dtheta.into_iter().flatten())
            .collect()
    };
    const W: [f64; 4] = [4.0 / 5.0, -1.0 / 5.0, 4.0 / 105.0, -1.0 / 280.0];
    let h = 1e-2;
    let mut fd = vec![0.0; r.hv_x0.len() + r.hv_theta[0].len()];
    for (k, w) in W.iter().enumerate() {
        let s = (k + 1) as f64 * h;
        let (a, b) = (grad(s), grad(-s));
        for ((o, x), y) in fd.iter_mut().zip(&a).zip(&b) {
            *o += w * (x - y) / h;
        }
    }
    let ours: Vec<f64> = r.hv_x0.iter().chain(&r.hv_theta[0]).copied().collect();
    let err = rel(&ours, &fd);
    eprintln!("{name}: |H·v − differences| / |H·v| = {err:.1e}");
    err
}

#[test]
fn cnf_exact_trace() {
    let err = error_against_differences(&small_cnf(Trace::Exact, 3), 3, "cnf exact");
    assert!(err <= 1e-9, "{err:e}");
}

#[test]
fn cnf_hutchinson_carries_its_noise() {
    let err = error_against_differences(&small_cnf(Trace::Hutchinson, 3), 3, "cnf hutchinson");
    assert!(err <= 1e-9, "{err:e}");
}

#[cfg(feature = "jit")]
#[test]
fn jit_network_through_its_interpreter() {
    use symplode_runtime::jit::{JitNetwork, JitOptions};
    let f = Graph::mlp(2, &[8], Activation::Tanh, true).unwrap();
    let mut rng = Rng::new(1);
    let p: Vec<f64> = (0..f.param_len())
        .map(|_| rng.uniform_range(-1.0, 1.0))
        .collect();
    let net = JitNetwork::new(Interpreted::new(f, p).unwrap(), &JitOptions::default()).unwrap();
    let err = error_against_differences(&net, 4, "jit mlp");
    assert!(err <= 1e-9, "{err:e}");
}
