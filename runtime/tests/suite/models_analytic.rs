//! The analytic test models: their exact gradients against central differences of their exact
//! states, their VJPs against central differences of `eval`, their exact states against an RK4
//! integration of `eval`, and the matrix exponential behind `LinearOde`.

use symplode_runtime::models::{ExpDecay, HarmonicOscillator, LinearOde, ModelError, expm};
use symplode_runtime::rng::Rng;
use symplode_runtime::{Dynamics, ParamTensor};

fn randn(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.normal()).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}[{i}]: {x} vs {y} (tol {tol}·{scale})"
        );
    }
}

/// Central differences of `L = c · state(model, x0)` with respect to x0 and the parameters.
fn fd_gradient<D: Dynamics<f64> + Clone>(
    model: &D,
    x0: &[f64],
    c: &[f64],
    state: impl Fn(&D, &[f64]) -> Vec<f64>,
) -> (Vec<f64>, Vec<f64>) {
    let h = 1e-6;
    let loss = |m: &D, x: &[f64]| dot(c, &state(m, x));
    let mut gx = vec![0.0; x0.len()];
    for i in 0..x0.len() {
        let (mut xp, mut xm) = (x0.to_vec(), x0.to_vec());
        xp[i] += h;
        xm[i] -= h;
        gx[i] = (loss(model, &xp) - loss(model, &xm)) / (2.0 * h);
    }
    let mut gp = vec![0.0; model.n_params()];
    for j in 0..gp.len() {
        let (mut mp, mut mm) = (model.clone(), model.clone());
        mp.params_mut()[j] += h;
        mm.params_mut()[j] -= h;
        gp[j] = (loss(&mp, x0) - loss(&mm, x0)) / (2.0 * h);
    }
    (gx, gp)
}

/// Checks the Dynamics implementation: VJP = taped VJP, VJP against central differences of
/// eval, eval_taped = eval, tensors cover the parameters, RK4 of eval reproduces `exact_state`.
fn check_dynamics<D: Dynamics<f64> + Clone>(
    what: &str,
    model: &D,
    batch: usize,
    seed: u64,
    exact_state: impl Fn(&D, f64, f64, &[f64]) -> Vec<f64>,
) {
    let d = model.dim();
    let mut rng = Rng::new(seed);
    let x = randn(&mut rng, batch * d);
    let lam = randn(&mut rng, batch * d);
    let t = 0.3;
    let n = model.n_params();
    assert_eq!(model.scratch_len(batch), 0);
    assert_eq!(model.tape_len(batch), 0);
    let eval = |m: &D, x: &[f64]| {
        let mut dx = vec![f64::NAN; x.len()];
        m.eval(t, x, &mut dx, &mut []);
        dx
    };
    let dx = eval(model, &x);
    let mut dx_t = vec![f64::NAN; x.len()];
    model.eval_taped(t, &x, &mut dx_t, &mut []);
    assert_eq!(dx, dx_t, "{what}: eval_taped");

    let gp0: Vec<f64> = (0..n).map(|i| 0.5 + i as f64).collect();
    let (mut gx, mut gp) = (vec![f64::NAN; x.len()], gp0.clone());
    model.vjp(t, &x, &lam, &mut gx, &mut gp, &mut []);
    let (mut gx_t, mut gp_t) = (vec![f64::NAN; x.len()], gp0.clone());
    model.backward_taped(t, &x, &[], &lam, &mut gx_t, &mut gp_t, &mut []);
    assert_eq!((&gx, &gp), (&gx_t, &gp_t), "{what}: backward_taped");
    let gp: Vec<f64> = gp.iter().zip(&gp0).map(|(a, b)| a - b).collect();
    let (fx, fp) = fd_gradient(model, &x, &lam, eval);
    assert_close(&format!("{what} vjp gx"), &gx, &fx, 1e-8);
    assert_close(&format!("{what} vjp gp"), &gp, &fp, 1e-8);

    let tensors: Vec<ParamTensor> = model.param_tensors();
    assert_eq!(
        tensors.iter().map(ParamTensor::len).sum::<usize>(),
        n,
        "{what}"
    );
    assert_eq!(tensors[0].offset, 0);

    // RK4 with 400 steps over [0.2, 1.5] against the closed form.
    let (t0, t1, steps) = (0.2, 1.5, 400);
    let h = (t1 - t0) / steps as f64;
    let mut y = x.clone();
    for _ in 0..steps {
        let f = |y: &[f64]| eval(model, y);
        let add = |y: &[f64], k: &[f64], s: f64| {
            y.iter().zip(k).map(|(a, b)| a + s * b).collect::<Vec<_>>()
        };
        let k1 = f(&y);
        let k2 = f(&add(&y, &k1, h / 2.0));
        let k3 = f(&add(&y, &k2, h / 2.0));
        let k4 = f(&add(&y, &k3, h));
        for i in 0..y.len() {
            y[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
    }
    assert_close(
        &format!("{what} RK4 vs exact_state"),
        &y,
        &exact_state(model, t0, t1, &x),
        1e-9,
    );
}

/// `exact_gradient` against central differences of `exact_state`.
fn check_exact_gradient<D: Dynamics<f64> + Clone>(
    what: &str,
    model: &D,
    batch: usize,
    seed: u64,
    (t0, t1): (f64, f64),
    exact_state: impl Fn(&D, f64, f64, &[f64]) -> Vec<f64>,
    exact_gradient: impl Fn(&D, f64, f64, &[f64], &[f64]) -> (Vec<f64>, Vec<f64>),
) {
    let d = model.dim();
    let mut rng = Rng::new(seed);
    let x0 = randn(&mut rng, batch * d);
    let c = randn(&mut rng, batch * d);
    let (gx, gp) = exact_gradient(model, t0, t1, &x0, &c);
    let (fx, fp) = fd_gradient(model, &x0, &c, |m, x| exact_state(m, t0, t1, x));
    assert_close(&format!("{what} dL/dx0"), &gx, &fx, 1e-8);
    assert_close(&format!("{what} dL/dθ"), &gp, &fp, 1e-8);
}

// ---------------------------------------------------------------- ExpDecay

#[test]
fn exp_decay() {
    let m = ExpDecay::new(vec![0.5, -0.3, 2.0]).unwrap();
    let x0 = [1.0, 2.0, 3.0, -1.0, 0.5, 0.25];
    let x1 = m.exact_state(0.5, 2.0, &x0);
    for (i, &x) in x0.iter().enumerate() {
        assert_eq!(x1[i], x * (-m.k()[i % 3] * 1.5f64).exp());
    }
    check_dynamics("ExpDecay", &m, 4, 1, |m, a, b, x| m.exact_state(a, b, x));
    for span in [(0.0, 1.0), (0.3, 2.5), (1.0, -0.5)] {
        check_exact_gradient(
            "ExpDecay",
            &m,
            3,
            2,
            span,
            |m, a, b, x| m.exact_state(a, b, x),
            |m, a, b, x, c| m.exact_gradient(a, b, x, c),
        );
    }
    assert_eq!(m.param_tensors()[0].name, "k");
    assert_eq!(m.param_tensors()[0].shape, vec![3]);
    assert!(matches!(
        ExpDecay::<f64>::new(vec![]),
        Err(ModelError::InvalidConfig { .. })
    ));
    match ExpDecay::<f64>::new(vec![1.0, f64::INFINITY]) {
        Err(ModelError::NonFinite { tensor, index, .. }) => {
            assert_eq!((tensor.as_str(), index), ("k", 1))
        }
        r => panic!("unexpected {r:?}"),
    }
}

// ---------------------------------------------------------------- HarmonicOscillator

#[test]
fn harmonic_oscillator() {
    let m = HarmonicOscillator::new(1.7).unwrap();
    // One full period returns to the start; energy ω²q² + p² is conserved.
    let x0 = [0.3, -1.2];
    let period = std::f64::consts::TAU / 1.7;
    assert_close("period", &m.exact_state(0.1, 0.1 + period, &x0), &x0, 1e-14);
    let x1 = m.exact_state(0.0, 0.77, &x0);
    let energy = |x: &[f64]| 1.7f64.powi(2) * x[0] * x[0] + x[1] * x[1];
    assert!((energy(&x1) - energy(&x0)).abs() < 1e-14);
    check_dynamics("HarmonicOscillator", &m, 5, 3, |m, a, b, x| {
        m.exact_state(a, b, x)
    });
    for omega in [1.7, -0.9, 0.3, 1e-3, 1e-9, 0.0, 6.0] {
        let m = HarmonicOscillator::new(omega).unwrap();
        for span in [(0.0, 1.0), (0.4, 2.9), (2.0, 0.5)] {
            check_exact_gradient(
                &format!("HarmonicOscillator ω={omega} {span:?}"),
                &m,
                3,
                4,
                span,
                |m, a, b, x| m.exact_state(a, b, x),
                |m, a, b, x, c| m.exact_gradient(a, b, x, c),
            );
        }
    }
    // ω = 0 is free motion.
    let free = HarmonicOscillator::new(0.0).unwrap();
    assert_eq!(free.exact_state(1.0, 3.0, &[1.0, 0.5]), vec![2.0, 0.5]);
    assert_eq!(m.param_tensors()[0].name, "omega");
    assert!(matches!(
        HarmonicOscillator::new(f64::NAN),
        Err(ModelError::NonFinite { .. })
    ));
}

// ---------------------------------------------------------------- LinearOde and expm

fn expm_identity_error(a: &[f64], n: usize) -> f64 {
    let e = expm(a, n);
    let neg: Vec<f64> = a.iter().map(|v| -v).collect();
    let f = expm(&neg, n);
    let mut err = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            let v: f64 = (0..n).map(|k| e[i * n + k] * f[k * n + j]).sum();
            err = err.max((v - if i == j { 1.0 } else { 0.0 }).abs());
        }
    }
    err
}

#[test]
fn matrix_exponential() {
    // Diagonal.
    let e = expm(&[-5.0, 0.0, 0.0, 2.5], 2);
    assert_close(
        "diag",
        &e,
        &[(-5.0f64).exp(), 0.0, 0.0, 2.5f64.exp()],
        1e-15,
    );
    // Rotation generator, angle 5 (‖A‖₁ = 5).
    let th = 5.0f64;
    let e = expm(&[0.0, -th, th, 0.0], 2);
    assert_close(
        "rotation",
        &e,
        &[th.cos(), -th.sin(), th.sin(), th.cos()],
        2e-15,
    );
    // Upper triangular 2×2 closed form.
    let (a, b, c) = (1.3f64, -2.0, -0.4);
    let e = expm(&[a, b, 0.0, c], 2);
    let want = [a.exp(), b * (a.exp() - c.exp()) / (a - c), 0.0, c.exp()];
    assert_close("triangular", &e, &want, 1e-14);
    // Nilpotent: I + N + N²/2.
    let s = 3.0;
    let e = expm(&[0.0, s, 0.0, 0.0, 0.0, s, 0.0, 0.0, 0.0], 3);
    assert_close(
        "nilpotent",
        &e,
        &[1.0, s, s * s / 2.0, 0.0, 1.0, s, 0.0, 0.0, 1.0],
        1e-15,
    );
    // e^A e^{−A} = I for random matrices with ‖A‖₁ up to ~5.
    let mut rng = Rng::new(9);
    for n in [2, 3, 5] {
        for scale in [0.1, 1.0, 2.0] {
            let a: Vec<f64> = randn(&mut rng, n * n).iter().map(|v| v * scale).collect();
            let err = expm_identity_error(&a, n);
            let norm = |m: &[f64]| {
                (0..n)
                    .map(|j| (0..n).map(|i| m[i * n + j].abs()).sum::<f64>())
                    .fold(0.0, f64::max)
            };
            let neg: Vec<f64> = a.iter().map(|v| -v).collect();
            let cond = norm(&expm(&a, n)) * norm(&expm(&neg, n));
            assert!(err < 1e-15 * cond.max(1.0) * 10.0, "n={n} scale={scale}");
        }
    }
    assert!(expm(&[1.0, 2.0], 2).is_empty());
    assert_eq!(expm(&[0.0], 1), vec![1.0]);
}

#[test]
fn linear_ode() {
    let mut rng = Rng::new(11);
    for d in [1, 2, 3] {
        let a: Vec<f64> = randn(&mut rng, d * d).iter().map(|v| 0.8 * v).collect();
        let m = LinearOde::from_params(d, a).unwrap();
        check_dynamics(&format!("LinearOde d={d}"), &m, 4, 12, |m, a, b, x| {
            m.exact_state(a, b, x)
        });
        for span in [(0.0, 1.0), (0.5, 2.0), (1.0, 0.2)] {
            check_exact_gradient(
                &format!("LinearOde d={d} {span:?}"),
                &m,
                3,
                13,
                span,
                |m, a, b, x| m.exact_state(a, b, x),
                |m, a, b, x, c| m.exact_gradient(a, b, x, c),
            );
        }
    }
    let m = LinearOde::<f64>::from_params(2, vec![0.0; 4]).unwrap();
    assert_eq!(m.param_tensors()[0].name, "A");
    assert_eq!(m.param_tensors()[0].shape, vec![2, 2]);
    // Zero cotangent: zero gradients.
    let (gx, ga) = m.exact_gradient(0.0, 1.0, &[1.0, 2.0], &[0.0, 0.0]);
    assert_eq!((gx, ga), (vec![0.0; 2], vec![0.0; 4]));
    match LinearOde::<f64>::from_params(2, vec![0.0; 5]) {
        Err(ModelError::ParamCount { expected, got, .. }) => assert_eq!((expected, got), (4, 5)),
        r => panic!("unexpected {r:?}"),
    }
    assert!(matches!(
        LinearOde::<f64>::from_params(0, vec![]),
        Err(ModelError::InvalidConfig { .. })
    ));
    match LinearOde::<f64>::from_params(2, vec![0.0, 0.0, f64::NAN, 0.0]) {
        Err(ModelError::NonFinite { tensor, index, .. }) => {
            assert_eq!((tensor.as_str(), index), ("A", 2))
        }
        r => panic!("unexpected {r:?}"),
    }
}

#[test]
fn linear_ode_agrees_with_the_other_closed_forms() {
    let mut rng = Rng::new(21);
    let (t0, t1) = (0.25, 1.75);
    // Oscillator: A = [[0, 1], [−ω², 0]]; dL/dω = dL/dA₁₀ · (−2ω).
    let w = 1.3;
    let osc = HarmonicOscillator::new(w).unwrap();
    let lin = LinearOde::from_params(2, vec![0.0, 1.0, -w * w, 0.0]).unwrap();
    let x0 = randn(&mut rng, 8);
    let c = randn(&mut rng, 8);
    assert_close(
        "state",
        &lin.exact_state(t0, t1, &x0),
        &osc.exact_state(t0, t1, &x0),
        1e-14,
    );
    let (gx_l, ga) = lin.exact_gradient(t0, t1, &x0, &c);
    let (gx_o, gw) = osc.exact_gradient(t0, t1, &x0, &c);
    assert_close("dL/dx0", &gx_l, &gx_o, 1e-14);
    assert_close("dL/dω", &[ga[2] * (-2.0 * w)], &gw, 1e-13);
    // Decay: A = diag(−k); dL/dk = −diag(dL/dA).
    let k = [0.4, 1.5, -0.2];
    let dec = ExpDecay::new(k.to_vec()).unwrap();
    let mut a = vec![0.0; 9];
    for j in 0..3 {
        a[j * 3 + j] = -k[j];
    }
    let lin = LinearOde::from_params(3, a).unwrap();
    let x0 = randn(&mut rng, 12);
    let c = randn(&mut rng, 12);
    assert_close(
        "state",
        &lin.exact_state(t0, t1, &x0),
        &dec.exact_state(t0, t1, &x0),
        1e-14,
    );
    let (gx_l, ga) = lin.exact_gradient(t0, t1, &x0, &c);
    let (gx_d, gk) = dec.exact_gradient(t0, t1, &x0, &c);
    assert_close("dL/dx0", &gx_l, &gx_d, 1e-14);
    let from_a: Vec<f64> = (0..3).map(|j| -ga[j * 3 + j]).collect();
    assert_close("dL/dk", &from_a, &gk, 1e-13);
}

#[test]
fn f32_versions_run() {
    let m = LinearOde::<f32>::from_params(2, vec![0.0, 1.0, -1.0, 0.0]).unwrap();
    let mut dx = [0.0f32; 2];
    m.eval(0.0, &[1.0, 2.0], &mut dx, &mut []);
    assert_eq!(dx, [2.0, -1.0]);
    let o = HarmonicOscillator::<f32>::new(2.0).unwrap();
    o.eval(0.0, &[1.0, 2.0], &mut dx, &mut []);
    assert_eq!(dx, [2.0, -4.0]);
    let e = ExpDecay::<f32>::new(vec![1.0, 2.0]).unwrap();
    e.eval(0.0, &[1.0, 2.0], &mut dx, &mut []);
    assert_eq!(dx, [-1.0, -4.0]);
}
