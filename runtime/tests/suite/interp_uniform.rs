//! Row-uniform steps (values that depend on the time and parameters only, computed on one row
//! and copied): a ConcatSquash CNF evaluated at one time for the whole batch must equal, bit
//! for bit, the same model run with one time per row (`eval_at` / `vjp_at`, which never takes
//! the shortcut) and its taped pair, and to rounding the model run row by row (batch 1, where
//! nothing is copied; the GEMM of a batch of 1 may round differently from that of 7 rows).

use symplode_codegen::ad::Trace;
use symplode_codegen::ir::{Activation, Graph};
use symplode_runtime::Dynamics;
use symplode_runtime::interp::{Interpreted, cnf};
use symplode_runtime::rng::Rng;

const BATCH: usize = 7;

fn model(trace: Trace) -> Interpreted<f64> {
    let f = Graph::concat_squash_mlp(2, &[16, 16], Activation::Tanh).unwrap();
    let mut rng = Rng::new(3);
    let p: Vec<f64> = (0..f.param_len())
        .map(|_| 0.5 * rng.uniform_range(-1.0, 1.0))
        .collect();
    let mut m = cnf(&f, trace, p).unwrap();
    if trace == Trace::Hutchinson {
        let eps: Vec<f64> = (0..BATCH * 2).map(|_| rng.normal()).collect();
        m.set_aux(1, &eps).unwrap();
    }
    m
}

fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.normal()).collect()
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

/// The gates and shifts of every layer (and their derivative factors in the VJP) are found.
#[test]
fn concat_squash_gates_are_row_uniform() {
    let m = model(Trace::Exact);
    let [eval, vjp, fwd, bwd] = m.row_uniform_steps();
    // Per layer: the gate's dense step and sigmoid and the shift's dense step.
    assert!(eval >= 9 && fwd >= 9, "eval {eval}, forward {fwd}");
    assert!(vjp >= eval, "vjp {vjp} < eval {eval}");
    assert!(
        bwd < vjp,
        "backward {bwd}: the tape is never taken as row-uniform"
    );
    let mlp = Interpreted::<f64>::new(
        Graph::mlp(2, &[8], Activation::Tanh, false).unwrap(),
        vec![0.1; 2 * 8 + 8 + 8 * 2 + 2],
    )
    .unwrap();
    assert_eq!(
        mlp.row_uniform_steps()[0],
        0,
        "no time input, nothing row-uniform"
    );
}

#[test]
fn one_time_batch_equals_row_by_row_and_per_row_times() {
    for trace in [Trace::Exact, Trace::Hutchinson] {
        let m = model(trace);
        let d = m.dim();
        let (t, x, lam) = (0.3, random(BATCH * d, 11), random(BATCH * d, 12));
        let mut scratch = vec![0.0; m.scratch_len(BATCH)];
        let mut dx = vec![0.0; BATCH * d];
        m.eval(t, &x, &mut dx, &mut scratch);
        let (mut gx, mut gp) = (vec![0.0; BATCH * d], vec![0.0; m.params().len()]);
        m.vjp(t, &x, &lam, &mut gx, &mut gp, &mut scratch);
        let mut tape = vec![0.0; m.tape_len(BATCH)];
        let mut dx_taped = vec![0.0; BATCH * d];
        m.eval_taped(t, &x, &mut dx_taped, &mut tape);
        let (mut gx_taped, mut gp_taped) = (vec![0.0; BATCH * d], vec![0.0; m.params().len()]);
        m.backward_taped(
            t,
            &x,
            &tape,
            &lam,
            &mut gx_taped,
            &mut gp_taped,
            &mut scratch,
        );
        assert_eq!(dx, dx_taped, "{trace:?}: eval_taped");
        assert_eq!(gx, gx_taped, "{trace:?}: backward_taped gx");
        assert!(rel(&gp_taped, &gp) < 1e-14, "{trace:?}: backward_taped gp");

        // One time per row: the plain program, no row copied.
        let ts = vec![t; BATCH];
        let mut dx_rows = vec![0.0; BATCH * d];
        m.eval_at(&ts, &x, &mut dx_rows, &mut scratch);
        assert_eq!(dx, dx_rows, "{trace:?}: eval_at");
        let (mut gx_rows, mut gp_rows) = (vec![0.0; BATCH * d], vec![0.0; m.params().len()]);
        m.vjp_at(&ts, &x, &lam, &mut gx_rows, &mut gp_rows, &mut scratch);
        assert_eq!(gx, gx_rows, "{trace:?}: vjp_at gx");
        assert!(rel(&gp_rows, &gp) < 1e-14, "{trace:?}: vjp_at gp");

        // Row by row (batch 1: nothing is copied; the Hutchinson noise of that row).
        if trace == Trace::Exact {
            let mut one = vec![0.0; m.scratch_len(1)];
            let mut gp_sum = vec![0.0; m.params().len()];
            for r in 0..BATCH {
                let row = r * d..(r + 1) * d;
                let mut dxr = vec![0.0; d];
                m.eval(t, &x[row.clone()], &mut dxr, &mut one);
                assert!(rel(&dxr, &dx[row.clone()]) < 1e-14, "row {r}: eval");
                let mut gxr = vec![0.0; d];
                m.vjp(
                    t,
                    &x[row.clone()],
                    &lam[row.clone()],
                    &mut gxr,
                    &mut gp_sum,
                    &mut one,
                );
                assert!(rel(&gxr, &gx[row]) < 1e-14, "row {r}: vjp");
            }
            assert!(rel(&gp_sum, &gp) < 1e-13, "row sums of gp");
        }
    }
}

/// Row-uniform values kept as one row (never copied) are read only as one row: with every
/// scratch element NaN before each call, the one-time passes still equal the per-row-time ones
/// (which never keep a value as one row) bit for bit.
#[test]
fn values_kept_as_one_row_are_read_only_as_one_row() {
    for trace in [Trace::Exact, Trace::Hutchinson] {
        let m = model(trace);
        let [eval, vjp, ..] = m.one_row_steps();
        assert!(eval >= 2 && vjp >= 2, "{trace:?}: {eval} {vjp}");
        let d = m.dim();
        let (t, x, lam) = (0.7, random(BATCH * d, 21), random(BATCH * d, 22));
        let ts = vec![t; BATCH];
        let n = m.params().len();
        let nan_scratch = || vec![f64::NAN; m.scratch_len(BATCH)];
        let (mut dx, mut dx_rows) = (vec![0.0; BATCH * d], vec![0.0; BATCH * d]);
        m.eval(t, &x, &mut dx, &mut nan_scratch());
        m.eval_at(&ts, &x, &mut dx_rows, &mut nan_scratch());
        assert_eq!(dx, dx_rows, "{trace:?}: eval");
        let (mut gx, mut gp) = (vec![0.0; BATCH * d], vec![0.0; n]);
        m.vjp(t, &x, &lam, &mut gx, &mut gp, &mut nan_scratch());
        let (mut gx_rows, mut gp_rows) = (vec![0.0; BATCH * d], vec![0.0; n]);
        m.vjp_at(
            &ts,
            &x,
            &lam,
            &mut gx_rows,
            &mut gp_rows,
            &mut nan_scratch(),
        );
        assert_eq!(gx, gx_rows, "{trace:?}: vjp gx");
        assert!(rel(&gp, &gp_rows) < 1e-14, "{trace:?}: vjp gp");
        let mut tape = vec![f64::NAN; m.tape_len(BATCH)];
        let mut dx_taped = vec![0.0; BATCH * d];
        m.eval_taped(t, &x, &mut dx_taped, &mut tape);
        assert_eq!(dx, dx_taped, "{trace:?}: eval_taped");
        let (mut gx_taped, mut gp_taped) = (vec![0.0; BATCH * d], vec![0.0; n]);
        let mut s = nan_scratch();
        m.backward_taped(t, &x, &tape, &lam, &mut gx_taped, &mut gp_taped, &mut s);
        assert_eq!(gx, gx_taped, "{trace:?}: backward_taped gx");
        assert!(rel(&gp, &gp_taped) < 1e-14, "{trace:?}: backward_taped gp");
    }
}
