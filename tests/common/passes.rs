//! The four passes of a `Dynamics` (eval, VJP, taped forward and backward) on fixed inputs,
//! and the relative distance of two gradients: shared by the macro tests that compare a
//! generated model with a reference bit for bit or to a tolerance (`suite/main.rs` includes it
//! with `#[path = "../common/passes.rs"] mod passes;`).

#![allow(dead_code)]

use symplode::prelude::*;

/// `0.5·sin(i·a + b)` for `i < n`: smooth, varied test inputs.
pub fn wave(n: usize, a: f64, b: f64) -> Vec<f64> {
    (0..n).map(|i| 0.5 * (i as f64 * a + b).sin()).collect()
}

/// eval, vjp, taped forward and backward of `f` on a batch at t = 0.3, inputs [`wave`]s
/// (scratch and tape start NaN, parameter gradients start at 0.5 to check accumulation):
/// `[dx, gx, gp, dx (taped), gx (taped), gp (taped)]`, each asserted finite.
pub fn run<T: Real>(f: &dyn Dynamics<T>, batch: usize) -> [Vec<T>; 6] {
    let n = batch * f.dim();
    let of = |v: Vec<f64>| v.into_iter().map(T::of).collect::<Vec<T>>();
    let (x, lam) = (of(wave(n, 0.37, 0.1)), of(wave(n, 0.23, 0.7)));
    let (nan, zero, half, t) = (T::of(f64::NAN), T::of(0.0), T::of(0.5), T::of(0.3));
    let mut scratch = vec![nan; f.scratch_len(batch)];
    let mut tape = vec![nan; f.tape_len(batch)];
    let mut dx = vec![zero; n];
    f.eval(t, &x, &mut dx, &mut scratch);
    let (mut gx, mut gp) = (vec![zero; n], vec![half; f.n_params()]);
    f.vjp(t, &x, &lam, &mut gx, &mut gp, &mut scratch);
    let mut dx2 = vec![zero; n];
    f.eval_taped(t, &x, &mut dx2, &mut tape);
    let (mut gx2, mut gp2) = (vec![zero; n], vec![half; f.n_params()]);
    f.backward_taped(t, &x, &tape, &lam, &mut gx2, &mut gp2, &mut scratch);
    for (i, v) in [&dx, &gx, &gp, &dx2, &gx2, &gp2].iter().enumerate() {
        assert!(
            v.iter().all(|e| e.f64().is_finite()),
            "output {i} not finite"
        );
    }
    [dx, gx, gp, dx2, gx2, gp2]
}

/// [`run`] on both at `batch`, every output equal bit for bit (`what` names the pair).
pub fn assert_runs_equal<T: Real>(
    a: &dyn Dynamics<T>,
    b: &dyn Dynamics<T>,
    batch: usize,
    what: &str,
) {
    assert_eq!(a.dim(), b.dim(), "{what}: dimension");
    assert_eq!(a.n_params(), b.n_params(), "{what}: parameters");
    let (u, v) = (run(a, batch), run(b, batch));
    for (i, (p, q)) in u.iter().zip(&v).enumerate() {
        assert_eq!(p, q, "{what}, batch {batch}, output {i}");
    }
}

/// Largest difference of two gradients (every component's parameters and the initial state)
/// relative to the reference's largest entry of each.
pub fn worst_rel(a: &GradResult<f64>, r: &GradResult<f64>) -> f64 {
    let rel = |u: &[f64], v: &[f64]| {
        assert_eq!(u.len(), v.len());
        symplode::runtime::compare::max_rel_diff(u, v)
    };
    assert_eq!(a.dtheta.len(), r.dtheta.len());
    a.dtheta
        .iter()
        .zip(&r.dtheta)
        .map(|(u, v)| rel(u, v))
        .fold(rel(&a.dx0, &r.dx0), f64::max)
}
