//! The model-level `form:` of `neural_ode!`: a macro CNF with ConcatSquash layers agrees with
//! `runtime::interp::cnf` on the same network and parameters (evaluation and symplectic
//! adjoint gradient), an energy model runs, and a Hutchinson CNF reads its noise (`set_aux`)
//! bit for bit like the interpreter.

use symplode::codegen::ad::{LinearOp, Trace};
use symplode::codegen::ir::{Activation as IrActivation, Graph};
use symplode::neural_ode;
use symplode::prelude::*;
use symplode::runtime::interp;

neural_ode! {
    /// FFJORD's tabular net as a CNF, exact trace.
    struct Flow {
        float: f64,
        dim: 2,
        layers: [concat_squash(8, tanh), concat_squash(8, tanh), concat_squash(2)],
        form: cnf(exact),
        tableau: rk4,
        solver: { steps: 5 },
    }
}

neural_ode! {
    /// An energy on an 8-point periodic grid, `ż = ∂ₓ ∇H`.
    struct Wave {
        float: f64,
        dim: 8,
        time: false,
        layers: [dense(16, tanh), dense(1)],
        form: energy(central_difference(8, 0.25)),
        tableau: rk4,
        solver: { steps: 4 },
    }
}

fn max_abs(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    symplode::runtime::compare::max_abs_diff(a, b)
}

#[test]
fn cnf_matches_interp_cnf() {
    let model = Flow::new(7);
    let f = Graph::concat_squash_mlp(2, &[8, 8], IrActivation::Tanh).unwrap();
    let reference = interp::cnf(&f, Trace::Exact, model.params().to_vec()).unwrap();
    assert_eq!(model.param_tensors(), reference.param_tensors());
    assert_eq!(model.dim(), 3);

    // Evaluation on a batch of 4 states [z, log p].
    let x: Vec<f64> = (0..12).map(|i| (i as f64 * 0.37).sin()).collect();
    let (mut da, mut db) = (vec![0.0; 12], vec![0.0; 12]);
    let mut sa = vec![0.0; model.scratch_len(4)];
    let mut sb = vec![0.0; reference.scratch_len(4)];
    model.eval(0.3, &x, &mut da, &mut sa);
    reference.eval(0.3, &x, &mut db, &mut sb);
    assert!(max_abs(&da, &db) <= 1e-12, "eval: {:e}", max_abs(&da, &db));

    // Symplectic adjoint gradient (the macro's generated kernels vs the interpreted scheme).
    let compiled = Flow::scheme().unwrap();
    assert!(compiled.is_compiled());
    let interpreted = Scheme::new(&builtin("rk4").unwrap()).unwrap();
    let times = [0.0, 0.5, 1.0];
    let x0: Vec<f64> = (0..3).map(|i| 0.2 * i as f64 - 0.1).collect();
    let pa = Problem::single(&model, &times, &compiled, Flow::stepping(), &x0);
    let pb = Problem::single(&reference, &times, &interpreted, Flow::stepping(), &x0);
    let ga = SymplecticAdjoint
        .gradient(&pa, &mut losses::mean_sq_final(3))
        .unwrap();
    let gb = SymplecticAdjoint
        .gradient(&pb, &mut losses::mean_sq_final(3))
        .unwrap();
    let (dt, dx) = (
        max_abs(&ga.dtheta[0], &gb.dtheta[0]),
        max_abs(&ga.dx0, &gb.dx0),
    );
    assert!(dt <= 1e-12 && dx <= 1e-12, "dθ {dt:e}, dx0 {dx:e}");
    assert!(
        gb.dtheta[0].iter().any(|v| v.abs() > 1e-6),
        "a non-trivial gradient"
    );
}

#[test]
fn energy_matches_interp_energy() {
    let model = Wave::new(3);
    assert_eq!(Wave::DIM, 8);
    let mut b = symplode::codegen::ir::GraphBuilder::new();
    let z = b.input("x", 8).unwrap();
    let h = b
        .dense_layer(z, "layers.0", 16, IrActivation::Tanh, true)
        .unwrap();
    let h = b
        .dense_layer(h, "layers.1", 1, IrActivation::Identity, true)
        .unwrap();
    let h = b.finish(&[h]).unwrap();
    let reference = interp::energy(
        &h,
        &LinearOp::central_difference(8, 0.25),
        model.params().to_vec(),
    )
    .unwrap();
    let x: Vec<f64> = (0..16).map(|i| (i as f64 * 0.61).cos()).collect();
    let (mut da, mut db) = (vec![0.0; 16], vec![0.0; 16]);
    let mut sa = vec![0.0; model.scratch_len(2)];
    let mut sb = vec![0.0; reference.scratch_len(2)];
    model.eval(0.0, &x, &mut da, &mut sa);
    reference.eval(0.0, &x, &mut db, &mut sb);
    assert!(max_abs(&da, &db) <= 1e-12, "eval: {:e}", max_abs(&da, &db));
}

neural_ode! {
    /// FFJORD's tabular net as a CNF with the Hutchinson trace (noise: auxiliary input 1).
    struct HutchFlow {
        float: f64,
        dim: 2,
        layers: [concat_squash(8, tanh), concat_squash(2)],
        form: cnf(hutchinson),
        tableau: rk4,
        solver: { steps: 2 },
    }
}

#[test]
fn hutchinson_cnf_reads_its_noise_like_the_interpreter() {
    let mut model = HutchFlow::new(5);
    let f = Graph::concat_squash_mlp(2, &[8], IrActivation::Tanh).unwrap();
    let mut reference = interp::cnf(&f, Trace::Hutchinson, model.params().to_vec()).unwrap();
    let x: Vec<f64> = (0..12).map(|i| (i as f64 * 0.41).sin()).collect();
    let lam: Vec<f64> = (0..12).map(|i| (i as f64 * 0.23).cos()).collect();
    let run = |m: &dyn Dynamics<f64>| {
        let mut s = vec![0.0; m.scratch_len(4)];
        let mut dx = vec![0.0; 12];
        m.eval(0.2, &x, &mut dx, &mut s);
        let (mut gx, mut gp) = (vec![0.0; 12], vec![0.0; m.n_params()]);
        m.vjp(0.2, &x, &lam, &mut gx, &mut gp, &mut s);
        (dx, gx, gp)
    };
    // Without the noise every output is NaN, as on the interpreter.
    let (dx, gx, gp) = run(&model);
    assert!(dx.iter().chain(&gx).chain(&gp).all(|v| v.is_nan()));
    let eps: Vec<f64> = (0..8)
        .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
        .collect();
    model.set_aux(1, &eps).unwrap();
    reference.set_aux(1, &eps).unwrap();
    assert_eq!(model.aux(1), &eps[..]);
    // The lowered plans and the interpreter: bit for bit.
    assert_eq!(run(&model), run(&reference));
    // The same checks as the interpreter's.
    assert!(model.set_aux(0, &eps).is_err());
    assert!(model.set_aux(1, &eps[..3]).is_err());
    assert!(model.set_aux(1, &[f64::NAN, 0.0]).is_err());
    // Chunked, with the noise set for one chunk's rows: the generated code reads noise rows
    // from row 0, so it refuses a part of the batch (NaN) instead of giving the second chunk
    // the first chunk's noise; the interpreter reads each chunk's own rows.
    model.set_aux(1, &eps[..4]).unwrap();
    let chunked = symplode::runtime::parallel::Chunked::new(model, 2).unwrap();
    let (dx, gx, gp) = run(&chunked);
    assert!(dx.iter().chain(&gx).chain(&gp).all(|v| v.is_nan()));
    let (want, got) = (
        run(&reference),
        run(&symplode::runtime::parallel::Chunked::new(reference.clone(), 2).unwrap()),
    );
    assert!(symplode::runtime::compare::max_rel_diff(&got.0, &want.0) < 1e-14);
}
