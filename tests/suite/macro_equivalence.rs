//! `neural_ode!` models against the hand-written `Mlp`: same initial weights, same states and
//! same gradients (symplectic adjoint, backprop, checkpointing) for rk4, bosh3, dopri5, dopri8
//! and user tableaux (inline and `tableau!`), with the generated kernels attached.

use symplode::prelude::*;
use symplode::{neural_ode, tableau};

neural_ode! {
    /// rk4, fixed steps.
    struct Rk4Net {
        float: f64,
        dim: 2,
        time: true,
        layers: [dense(16, tanh), dense(16, tanh), dense(2)],
        tableau: rk4,
        solver: { steps: 4 },
    }
}

neural_ode! {
    /// bosh3, adaptive (FSAL).
    struct Bosh3Net {
        float: f64,
        dim: 2,
        time: true,
        layers: [dense(16, tanh), dense(16, tanh), dense(2)],
        tableau: bosh3,
        solver: { rtol: 1e-6, atol: 1e-8 },
    }
}

neural_ode! {
    /// dopri5, adaptive (FSAL, interior zero weight).
    struct Dopri5Net {
        float: f64,
        dim: 2,
        time: true,
        layers: [dense(16, tanh), dense(16, tanh), dense(2)],
        tableau: dopri5,
        solver: { rtol: 1e-7, atol: 1e-9 },
    }
}

neural_ode! {
    /// dopri8, adaptive.
    struct Dopri8Net {
        float: f64,
        dim: 2,
        time: true,
        layers: [dense(16, tanh), dense(16, tanh), dense(2)],
        tableau: dopri8,
        solver: { rtol: 1e-8, atol: 1e-10 },
    }
}

neural_ode! {
    /// An inline user tableau (Ralston's third-order method, fixed steps).
    struct InlineNet {
        float: f64,
        dim: 2,
        time: true,
        layers: [dense(16, tanh), dense(16, tanh), dense(2)],
        tableau: {
            a: [[1/2], [0, 3/4]],
            b: [2/9, 1/3, 4/9],
            c: [0, 1/2, 3/4],
            order: 3,
        },
        solver: { steps: 3 },
    }
}

tableau! {
    /// Heun's third-order method, with an embedded Euler-like weight vector.
    HEUN3 = {
        a: [[1/3], [0, 2/3]],
        b: [1/4, 0, 3/4],
        b_hat: [1, 0, 0],
        c: [0, 1/3, 2/3],
        order: 3,
        embedded_order: 1,
    }
}

neural_ode! {
    /// A `tableau!` item named by path, adaptive.
    struct Heun3Net {
        float: f64,
        dim: 2,
        time: true,
        layers: [dense(16, tanh), dense(16, tanh), dense(2)],
        tableau: HEUN3,
        solver: { rtol: 1e-5, atol: 1e-7 },
    }
}

neural_ode! {
    /// Mixed activations without time input, f32.
    struct MixedNet {
        float: f32,
        dim: 3,
        time: false,
        layers: [dense(8, silu), dense(5, softplus), dense(3, tanh)],
        tableau: dopri5,
    }
}

fn config() -> MlpConfig {
    MlpConfig::new(2, vec![16, 16], Activation::Tanh, true)
}

fn x0() -> Vec<f64> {
    (0..10).map(|i| (i as f64 * 0.37).sin()).collect()
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    symplode::runtime::compare::max_rel_diff(a, b)
}

/// Compares the generated model (with its kernels) and the `Mlp` (interpreted scheme).
fn check<M: Dynamics<f64>>(model: &M, scheme: Scheme<f64>, stepping: Stepping, tol: f64) {
    assert!(scheme.is_compiled());
    let tableau = builtin(scheme.name()).unwrap_or_else(|_| {
        panic!(
            "test helper only for built-ins; use check_with for {}",
            scheme.name()
        )
    });
    check_with(model, scheme, Scheme::new(&tableau).unwrap(), stepping, tol);
}

fn check_with<M: Dynamics<f64>>(
    model: &M,
    compiled: Scheme<f64>,
    interpreted: Scheme<f64>,
    stepping: Stepping,
    tol: f64,
) {
    let mlp = Mlp::<f64>::from_params(config(), model.params().to_vec()).unwrap();
    assert_eq!(mlp.param_tensors(), model.param_tensors());
    let x0 = x0();
    let times = [0.0, 0.5, 1.0];
    let a = solve(model, &compiled, &stepping, &times, &x0).unwrap();
    let b = solve(&mlp, &interpreted, &stepping, &times, &x0).unwrap();
    assert_eq!(a.grid.t, b.grid.t, "same accepted grid");
    for (sa, sb) in a.states.iter().zip(&b.states) {
        assert!(max_rel(sa, sb) <= tol, "states differ: {}", max_rel(sa, sb));
    }
    let methods: [&dyn GradientMethod<f64>; 3] = [&SymplecticAdjoint, &Backprop, &CheckpointStep];
    for method in methods {
        let pa = Problem::single(model, &times, &compiled, stepping.clone(), &x0);
        let pb = Problem::single(&mlp, &times, &interpreted, stepping.clone(), &x0);
        let ga = method.gradient(&pa, &mut losses::mean_sq_final(2)).unwrap();
        let gb = method.gradient(&pb, &mut losses::mean_sq_final(2)).unwrap();
        let (dt, dx) = (
            max_rel(&ga.dtheta[0], &gb.dtheta[0]),
            max_rel(&ga.dx0, &gb.dx0),
        );
        assert!(
            dt <= tol && dx <= tol,
            "{}: dθ {dt:e}, dx0 {dx:e}",
            method.name()
        );
    }
}

#[test]
fn initialisation_matches_mlp() {
    let m = Rk4Net::new(7);
    let mlp = Mlp::<f64>::new(config(), 7).unwrap();
    assert_eq!(m.params(), mlp.params());
    assert_eq!(Rk4Net::N_PARAMS, mlp.n_params());
    assert_eq!(Rk4Net::WIDTHS, [3, 16, 16, 2]);
}

#[test]
fn rk4_matches_mlp() {
    check(
        &Rk4Net::new(1),
        Rk4Net::scheme().unwrap(),
        Rk4Net::stepping(),
        0.0,
    );
}

#[test]
fn bosh3_matches_mlp() {
    check(
        &Bosh3Net::new(2),
        Bosh3Net::scheme().unwrap(),
        Bosh3Net::stepping(),
        0.0,
    );
}

#[test]
fn dopri5_matches_mlp() {
    check(
        &Dopri5Net::new(3),
        Dopri5Net::scheme().unwrap(),
        Dopri5Net::stepping(),
        0.0,
    );
}

#[test]
fn dopri8_matches_mlp() {
    check(
        &Dopri8Net::new(4),
        Dopri8Net::scheme().unwrap(),
        Dopri8Net::stepping(),
        0.0,
    );
}

#[test]
fn inline_tableau_matches_mlp() {
    let interpreted = Scheme::new(&InlineNet::tableau().unwrap()).unwrap();
    assert_eq!(InlineNet::TABLEAU, "InlineNet_tableau");
    check_with(
        &InlineNet::new(5),
        InlineNet::scheme().unwrap(),
        interpreted,
        InlineNet::stepping(),
        0.0,
    );
}

#[test]
fn tableau_item_matches_mlp() {
    let t = Heun3Net::tableau().unwrap();
    assert_eq!(
        (t.name(), t.order(), t.embedded_order()),
        ("HEUN3", 3, Some(1))
    );
    let interpreted = Scheme::new(&t).unwrap();
    check_with(
        &Heun3Net::new(6),
        Heun3Net::scheme().unwrap(),
        interpreted,
        Heun3Net::stepping(),
        0.0,
    );
}

#[test]
fn mixed_activations_match_central_differences() {
    // No Mlp has per-layer activations: check the VJP against the taped backward and
    // central differences instead.
    let m = MixedNet::new(9);
    let x: Vec<f32> = (0..12).map(|i| (i as f32 * 0.3).cos()).collect();
    let lam: Vec<f32> = (0..12).map(|i| (i as f32 * 0.7).sin()).collect();
    let mut scratch = vec![0.0f32; m.scratch_len(4)];
    let mut tape = vec![0.0f32; m.tape_len(4)];
    let (mut gx, mut gp) = (vec![0.0f32; 12], vec![0.0f32; m.n_params()]);
    let (mut gx2, mut gp2) = (vec![0.0f32; 12], vec![0.0f32; m.n_params()]);
    let (mut dx, mut dx2) = (vec![0.0f32; 12], vec![0.0f32; 12]);
    m.eval(0.3, &x, &mut dx, &mut scratch);
    m.vjp(0.3, &x, &lam, &mut gx, &mut gp, &mut scratch);
    m.eval_taped(0.3, &x, &mut dx2, &mut tape);
    m.backward_taped(0.3, &x, &tape, &lam, &mut gx2, &mut gp2, &mut scratch);
    assert_eq!(dx, dx2);
    assert_eq!((&gx, &gp), (&gx2, &gp2));
    // d(λ·f)/dx_0 by central differences.
    let f = |x: &[f32]| {
        let mut d = vec![0.0f32; 12];
        let mut s = vec![0.0f32; m.scratch_len(4)];
        m.eval(0.3, x, &mut d, &mut s);
        d.iter()
            .zip(&lam)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum::<f64>()
    };
    for i in [0, 5, 11] {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[i] += 1e-2;
        xm[i] -= 1e-2;
        let fd = (f(&xp) - f(&xm)) / 2e-2;
        assert!(
            (fd - gx[i] as f64).abs() < 2e-3,
            "x[{i}]: {fd} vs {}",
            gx[i]
        );
    }
    assert!(MixedNet::scheme().unwrap().is_compiled());
}
