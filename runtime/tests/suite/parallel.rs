//! Batch-chunk parallelism: gradients bit-identical at 1, 2 and 4 threads, and equal to the
//! unchunked model to rounding; chunks of a model with auxiliary inputs (a Hutchinson CNF's
//! noise) read their own rows of them.

use crate::common::*;
use symplode_codegen::ad::Trace;
use symplode_codegen::ir::{Activation, Graph};
use symplode_runtime::grad::{GradResult, Problem, losses};
use symplode_runtime::interp::{Interpreted, cnf};
use symplode_runtime::parallel::Chunked;
use symplode_runtime::{Dynamics, Stepping};

#[test]
fn gradients_are_bit_identical_for_any_thread_count() {
    let x0 = random_state::<f64>(2 * 300, 12);
    let times = [0.0, 0.5, 1.0];
    for name in ["rk4", "dopri5"] {
        let sch = scheme::<f64>(name);
        let stepping = if name == "rk4" {
            Stepping::fixed(4)
        } else {
            Stepping::adaptive(1e-6, 1e-8)
        };
        let plain = mlp::<f64>(2, 16, 3);
        let reference_problem = Problem::single(&plain, &times, &sch, stepping.clone(), &x0);
        for method in all_methods::<f64>() {
            let reference = method
                .gradient(&reference_problem, &mut losses::mean_sq_final(2))
                .expect("unchunked");
            let mut first: Option<(Vec<f64>, Vec<f64>)> = None;
            for threads in [1, 2, 4] {
                let net = Chunked::new(mlp::<f64>(2, 16, 3), 64)
                    .and_then(|c| c.with_threads(threads))
                    .expect("chunked");
                let problem = Problem::single(&net, &times, &sch, stepping.clone(), &x0);
                let r = method
                    .gradient(&problem, &mut losses::mean_sq_final(2))
                    .expect("chunked");
                let got = (r.dx0.clone(), r.dtheta[0].clone());
                match &first {
                    None => first = Some(got),
                    Some(f) => assert!(
                        f.0 == got.0 && f.1 == got.1,
                        "{name} {}: {threads} threads differ from 1 thread",
                        method.name()
                    ),
                }
                assert!(
                    rel(&r.dtheta[0], &reference.dtheta[0]) < 1e-12,
                    "{name} {}",
                    method.name()
                );
                assert!(rel(&r.dx0, &reference.dx0) < 1e-12);
                assert_eq!(net.n_params(), plain.n_params());
            }
        }
    }
}

/// A Hutchinson CNF (ConcatSquash 2 → 8 → 8 → 2) whose noise `ε` is set for `batch` rows,
/// every row a different draw.
fn hutchinson_cnf(batch: usize) -> Interpreted<f64> {
    let f = Graph::concat_squash_mlp(2, &[8, 8], Activation::Tanh).expect("graph");
    let params = random_state::<f64>(f.param_len(), 31);
    let mut m = cnf(&f, Trace::Hutchinson, params).expect("cnf");
    m.set_aux(1, &random_state::<f64>(2 * batch, 32))
        .expect("noise");
    m
}

/// A CNF state `[z, log p]` for `batch` rows, `log p` starting at 0.
fn cnf_state(batch: usize) -> Vec<f64> {
    let mut x0 = random_state::<f64>(3 * batch, 33);
    for r in 0..batch {
        x0[3 * r + 2] = 0.0;
    }
    x0
}

/// The chunks of a batch whose noise is an auxiliary input read their own rows of it: every
/// `Dynamics` call of a chunked Hutchinson CNF equals the unchunked one to rounding, with
/// 150 rows in chunks of 64, 64 and 22 (rows 64.. of the noise differ from rows 0..64, so a
/// chunk that read the first rows would be far off).
#[test]
fn chunks_read_their_own_rows_of_auxiliary_inputs() {
    let batch = 150;
    let n = 3 * batch;
    let plain = hutchinson_cnf(batch);
    let chunked = Chunked::new(hutchinson_cnf(batch), 64)
        .and_then(|c| c.with_threads(2))
        .expect("chunked");
    let p = plain.n_params();
    let x = cnf_state(batch);
    let lam = random_state::<f64>(n, 34);
    let times: Vec<f64> = (0..batch).map(|r| 0.01 * r as f64).collect();
    let mut scratch = vec![0.0; plain.scratch_len(batch).max(chunked.scratch_len(batch))];
    let mut tape = vec![0.0; plain.tape_len(batch).max(chunked.tape_len(batch))];
    let mut outs = |m: &dyn Dynamics<f64>| {
        let (mut dx, mut dx_at, mut dx_taped) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let (mut gx, mut gp) = (vec![0.0; n], vec![0.0; p]);
        let (mut gx_at, mut gp_at) = (vec![0.0; n], vec![0.0; p]);
        let (mut gx_taped, mut gp_taped) = (vec![0.0; n], vec![0.0; p]);
        m.eval(0.3, &x, &mut dx, &mut scratch);
        m.eval_at(&times, &x, &mut dx_at, &mut scratch);
        m.vjp(0.3, &x, &lam, &mut gx, &mut gp, &mut scratch);
        m.vjp_at(&times, &x, &lam, &mut gx_at, &mut gp_at, &mut scratch);
        m.eval_taped(0.3, &x, &mut dx_taped, &mut tape);
        m.backward_taped(
            0.3,
            &x,
            &tape,
            &lam,
            &mut gx_taped,
            &mut gp_taped,
            &mut scratch,
        );
        [
            dx, dx_at, gx, gp, gx_at, gp_at, dx_taped, gx_taped, gp_taped,
        ]
    };
    let want = outs(&plain);
    let got = outs(&chunked);
    let names = [
        "eval",
        "eval_at",
        "vjp gx",
        "vjp gp",
        "vjp_at gx",
        "vjp_at gp",
    ];
    let names = names
        .iter()
        .chain(&["eval_taped", "backward_taped gx", "backward_taped gp"]);
    for ((w, g), name) in want.iter().zip(&got).zip(names) {
        assert!(
            w.iter().all(|v| v.is_finite()),
            "{name}: reference not finite"
        );
        let err = rel(g, w);
        assert!(err < 1e-13, "{name}: chunked vs unchunked {err:e}");
    }
}

/// Gradients of a chunked Hutchinson CNF: bit-identical at 1, 2 and 3 threads, and every
/// method equal to the unchunked model's to rounding, fixed and adaptive steps.
#[test]
fn hutchinson_cnf_gradients_chunked() {
    let batch = 150;
    let x0 = cnf_state(batch);
    let times = [0.0, 0.25, 0.5];
    let plain = hutchinson_cnf(batch);
    for (name, stepping) in [
        ("rk4", Stepping::fixed(3)),
        ("dopri5", Stepping::adaptive(1e-6, 1e-8)),
    ] {
        let sch = scheme::<f64>(name);
        let reference_problem = Problem::single(&plain, &times, &sch, stepping.clone(), &x0);
        let cot = random_cotangents(&reference_problem, 35);
        for method in all_methods::<f64>() {
            let reference = run(method.as_ref(), &reference_problem, &cot);
            let mut first: Option<GradResult<f64>> = None;
            for threads in [1, 2, 3] {
                let net = Chunked::new(hutchinson_cnf(batch), 64)
                    .and_then(|c| c.with_threads(threads))
                    .expect("chunked");
                let problem = Problem::single(&net, &times, &sch, stepping.clone(), &x0);
                let r = run(method.as_ref(), &problem, &cot);
                let err = worst_rel(&problem, &r, &reference);
                assert!(
                    err < 1e-12,
                    "{name} {}: vs unchunked {err:e}",
                    method.name()
                );
                match &first {
                    None => first = Some(r),
                    Some(f) => assert!(
                        f.dx0 == r.dx0 && f.dtheta == r.dtheta,
                        "{name} {}: {threads} threads differ from 1 thread",
                        method.name()
                    ),
                }
            }
        }
    }
}

/// Noise set for another batch is refused, chunked or not: 128 rows evaluated in two chunks
/// of 64 against noise for 64 rows give NaN, not the same 64 noise rows read twice.
#[test]
fn chunks_refuse_auxiliary_inputs_of_another_batch() {
    let chunked = Chunked::new(hutchinson_cnf(64), 64).expect("chunked");
    let x = cnf_state(128);
    let mut dx = vec![0.0; x.len()];
    let mut scratch = vec![0.0; chunked.scratch_len(128)];
    chunked.eval(0.1, &x, &mut dx, &mut scratch);
    assert!(dx.iter().all(|v| v.is_nan()), "a wrong batch must give NaN");
    // The first 64 rows alone are the batch the noise was set for.
    let mut dx = vec![0.0; x.len() / 2];
    chunked.eval(0.1, &x[..x.len() / 2], &mut dx, &mut scratch);
    assert!(dx.iter().all(|v| v.is_finite()));
}

/// A model that needs no scratch and no tape (`ExpDecay`) still runs every chunk: each gets a
/// one-element slot (splitting into slots of zero elements panicked, or ran no chunk and left
/// the outputs unwritten). Every call and every method's gradient equal the unchunked ones.
#[test]
fn models_without_scratch_or_tape_run_every_chunk() {
    use symplode_runtime::models::ExpDecay;
    let k = vec![0.3, -0.7, 1.1];
    let plain = ExpDecay::new(k.clone()).expect("decay");
    let chunked = Chunked::new(ExpDecay::new(k).expect("decay"), 4)
        .and_then(|c| c.with_threads(2))
        .expect("chunked");
    let batch = 10;
    let n = 3 * batch;
    let x = random_state::<f64>(n, 40);
    let lam = random_state::<f64>(n, 41);
    let calls = |m: &dyn Dynamics<f64>| {
        let mut scratch = vec![0.0; m.scratch_len(batch)];
        let mut tape = vec![0.0; m.tape_len(batch)];
        let (mut dx, mut dx2) = (vec![f64::NAN; n], vec![f64::NAN; n]);
        let (mut gx, mut gp) = (vec![f64::NAN; n], vec![0.0; 3]);
        let (mut gx2, mut gp2) = (vec![f64::NAN; n], vec![0.0; 3]);
        m.eval(0.2, &x, &mut dx, &mut scratch);
        m.vjp(0.2, &x, &lam, &mut gx, &mut gp, &mut scratch);
        m.eval_taped(0.2, &x, &mut dx2, &mut tape);
        m.backward_taped(0.2, &x, &tape, &lam, &mut gx2, &mut gp2, &mut scratch);
        [dx, gx, gp, dx2, gx2, gp2]
    };
    for (i, (w, g)) in calls(&plain).iter().zip(&calls(&chunked)).enumerate() {
        let err = rel(g, w);
        assert!(err < 1e-15, "output {i}: chunked vs unchunked {err:e}");
    }
    let x0 = random_state::<f64>(n, 42);
    let sch = scheme::<f64>("rk4");
    let reference_problem = Problem::single(&plain, &[0.0, 1.0], &sch, Stepping::fixed(3), &x0);
    let problem = Problem::single(&chunked, &[0.0, 1.0], &sch, Stepping::fixed(3), &x0);
    let cot = random_cotangents(&reference_problem, 43);
    for method in all_methods::<f64>() {
        let reference = run(method.as_ref(), &reference_problem, &cot);
        let r = run(method.as_ref(), &problem, &cot);
        let err = worst_rel(&problem, &r, &reference);
        assert!(
            err < 1e-13,
            "{}: chunked vs unchunked {err:e}",
            method.name()
        );
    }
}

/// A graph whose rows are coupled (`y = x · Σ_batch x`) has no chunks that add up to the
/// batch: chunked, it gives NaN instead of each chunk's own sums; whole, it runs.
#[test]
fn coupled_rows_refuse_chunks() {
    use symplode_codegen::ir::GraphBuilder;
    let mut b = GraphBuilder::new();
    let x = b.input("x", 3).expect("input");
    let s = b.batch_sum(x).expect("sum");
    let r = b.broadcast_rows(s).expect("rows");
    let y = b.mul(r, x).expect("mul");
    let model = Interpreted::<f64>::new(b.finish(&[y]).expect("graph"), vec![]).expect("model");
    let x = random_state::<f64>(3 * 10, 44);
    let mut dx = vec![0.0; x.len()];
    let mut scratch = vec![0.0; model.scratch_len(10)];
    model.eval(0.0, &x, &mut dx, &mut scratch);
    assert!(dx.iter().all(|v| v.is_finite()), "whole batch");
    let chunked = Chunked::new(model, 4).expect("chunked");
    let mut scratch = vec![0.0; chunked.scratch_len(10)];
    chunked.eval(0.0, &x, &mut dx, &mut scratch);
    assert!(
        dx.iter().all(|v| v.is_nan()),
        "chunks of a coupled graph must give NaN"
    );
}
