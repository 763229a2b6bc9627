//! The interpreter on `Graph::mlp` against the hand-written `Mlp` with the same weights: eval,
//! vjp and the taped path agree to rounding for every activation, with and without the time
//! input, in f64 and f32; the five gradient methods give the same gradients on both.

use std::str::FromStr;

use crate::common::*;
use symplode_codegen::ir::{self, Graph};
use symplode_runtime::grad::Problem;
use symplode_runtime::interp::Interpreted;
use symplode_runtime::models::{Activation, Mlp, MlpConfig};
use symplode_runtime::{Dynamics, Real, Stepping};

fn pair<T: Real>(cfg: &MlpConfig, seed: u64) -> (Mlp<T>, Interpreted<T>) {
    let mlp = Mlp::<T>::new(cfg.clone(), seed).unwrap();
    let act = ir::Activation::from_str(cfg.activation.name()).unwrap();
    let g = Graph::mlp(cfg.dim, &cfg.hidden, act, cfg.time_input).unwrap();
    let f = Interpreted::new(g, mlp.params().to_vec()).unwrap();
    (mlp, f)
}

/// Everything one model computes at one point: eval, vjp (gx, gp), eval_taped, backward_taped.
fn outputs<T: Real>(m: &dyn Dynamics<T>, t: T, x: &[T], lam: &[T]) -> [Vec<f64>; 6] {
    let batch = x.len() / m.dim();
    // Buffers start as NaN: the model must not read what it did not write.
    let mut scratch = vec![T::nan(); m.scratch_len(batch)];
    let mut tape = vec![T::nan(); m.tape_len(batch)];
    let mut dx = vec![T::nan(); x.len()];
    m.eval(t, x, &mut dx, &mut scratch);
    let mut gx = vec![T::nan(); x.len()];
    let mut gp = vec![T::one(); m.n_params()];
    m.vjp(t, x, lam, &mut gx, &mut gp, &mut scratch);
    let mut dx2 = vec![T::nan(); x.len()];
    m.eval_taped(t, x, &mut dx2, &mut tape);
    scratch.fill(T::nan());
    let mut gx2 = vec![T::nan(); x.len()];
    let mut gp2 = vec![T::one(); m.n_params()];
    m.backward_taped(t, x, &tape, lam, &mut gx2, &mut gp2, &mut scratch);
    [dx, gx, gp, dx2, gx2, gp2].map(|v| to64(&v))
}

fn compare<T: Real>(cfg: &MlpConfig, tol: f64) {
    let (mlp, f) = pair::<T>(cfg, 7);
    assert_eq!(f.param_tensors(), mlp.param_tensors(), "{cfg:?}");
    let batch = 5;
    let x = random_state::<T>(batch * cfg.dim, 1);
    let lam = random_state::<T>(batch * cfg.dim, 2);
    let t = T::of(0.3);
    let a = outputs(&f, t, &x, &lam);
    let b = outputs(&mlp, t, &x, &lam);
    let names = [
        "eval",
        "vjp gx",
        "vjp gp",
        "eval_taped",
        "backward gx",
        "backward gp",
    ];
    for ((name, a), b) in names.iter().zip(&a).zip(&b) {
        assert!(
            a.iter().all(|v| v.is_finite()),
            "{cfg:?} {name}: not finite"
        );
        let err = rel(a, b);
        assert!(err <= tol, "{} {cfg:?} {name}: {err:e}", T::NAME);
    }
}

fn configs() -> Vec<MlpConfig> {
    let mut v = Vec::new();
    for act in Activation::ALL {
        for time in [true, false] {
            v.push(MlpConfig::new(3, vec![8, 6], act, time));
        }
    }
    v.push(MlpConfig::new(2, vec![], Activation::Tanh, true));
    v.push(MlpConfig::new(2, vec![5], Activation::Silu, false));
    v.push(MlpConfig::new(
        4,
        vec![16, 16, 16],
        Activation::Softplus,
        true,
    ));
    v
}

#[test]
fn same_results_as_mlp_f64() {
    for cfg in configs() {
        compare::<f64>(
            &cfg,
            if cfg.activation == Activation::Tanh {
                0.0
            } else {
                1e-14
            },
        );
    }
}

#[test]
fn same_results_as_mlp_f32() {
    for cfg in configs() {
        compare::<f32>(&cfg, 1e-5);
    }
}

#[test]
fn large_batch_same_as_mlp() {
    // Wide enough to use the blocked matmul paths (several row and column panels).
    let cfg = MlpConfig::new(2, vec![64, 64], Activation::Tanh, true);
    let (mlp, f) = pair::<f64>(&cfg, 3);
    let x = random_state::<f64>(2 * 300, 4);
    let lam = random_state::<f64>(2 * 300, 5);
    let a = outputs(&f, 0.7, &x, &lam);
    let b = outputs(&mlp, 0.7, &x, &lam);
    for (a, b) in a.iter().zip(&b) {
        assert!(rel(a, b) <= 1e-13, "{:e}", rel(a, b));
    }
}

#[test]
fn gradient_methods_agree_with_mlp() {
    for (scheme_name, stepping) in [
        ("rk4", Stepping::fixed(4)),
        ("dopri5", Stepping::adaptive(1e-6, 1e-8)),
    ] {
        let sch = scheme::<f64>(scheme_name);
        let cfg = MlpConfig::new(2, vec![8, 8], Activation::Tanh, true);
        let (mlp, f) = pair::<f64>(&cfg, 11);
        let x0 = random_state::<f64>(2 * 4, 3);
        let times = [0.0, 0.5, 1.0];
        let pm = Problem::single(&mlp, &times, &sch, stepping.clone(), &x0);
        let pf = Problem::single(&f, &times, &sch, stepping.clone(), &x0);
        let cot = random_cotangents(&pm, 9);
        for method in all_methods::<f64>() {
            let a = run(method.as_ref(), &pf, &cot);
            let b = run(method.as_ref(), &pm, &cot);
            let err = worst_rel(&pm, &a, &b);
            assert!(
                err <= 1e-12,
                "{scheme_name} {}: interpreter vs Mlp {err:e}",
                method.name()
            );
        }
    }
}

#[test]
fn chunked_interpreter_is_thread_count_independent() {
    use symplode_runtime::parallel::Chunked;
    let cfg = MlpConfig::new(2, vec![16, 16], Activation::Tanh, true);
    let (mlp, f) = pair::<f64>(&cfg, 5);
    let sch = scheme::<f64>("rk4");
    let x0 = random_state::<f64>(2 * 100, 6);
    let times = [0.0, 0.5];
    let plain = Problem::single(&mlp, &times, &sch, Stepping::fixed(3), &x0);
    let cot = random_cotangents(&plain, 2);
    let reference = run(&symplode_runtime::SymplecticAdjoint, &plain, &cot);
    let mut results = Vec::new();
    for threads in [1, 3] {
        let c = Chunked::new(f.clone(), 32)
            .unwrap()
            .with_threads(threads)
            .unwrap();
        let p = Problem::single(&c, &times, &sch, Stepping::fixed(3), &x0);
        let r = run(&symplode_runtime::SymplecticAdjoint, &p, &cot);
        assert!(worst_rel(&plain, &r, &reference) <= 1e-12);
        results.push(r);
    }
    assert_eq!(results[0].dx0, results[1].dx0);
    assert_eq!(results[0].dtheta, results[1].dtheta);
}

#[test]
fn config_graph_is_the_interpreted_mlp() {
    let cfg = MlpConfig::new(3, vec![8, 6], Activation::Silu, true);
    let (mlp, f) = pair::<f64>(&cfg, 11);
    let g = Interpreted::new(cfg.graph().unwrap(), mlp.params().to_vec()).unwrap();
    assert_eq!(g.param_tensors(), mlp.param_tensors());
    let x = random_state::<f64>(4 * cfg.dim, 5);
    let lam = random_state::<f64>(4 * cfg.dim, 6);
    assert_eq!(outputs(&g, 0.4, &x, &lam), outputs(&f, 0.4, &x, &lam));
    assert!(
        MlpConfig::new(2, vec![0], Activation::Tanh, true)
            .graph()
            .is_err()
    );
}
