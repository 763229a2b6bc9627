//! `Mlp` in row blocks: a batch run block by block gives the whole-batch pass's outputs, input
//! gradients and tape values bit for bit, and its parameter gradient to rounding, on every path
//! (`eval`, `eval_at`, `vjp`, `vjp_at`, `eval_taped` + `backward_taped`), for an activation that
//! keeps its output and one that keeps its input (`silu`), with batches that are not a multiple
//! of the block; an exact gradient method through a blocked network equals backprop.

use symplode_runtime::Dynamics;
use symplode_runtime::grad::{Backprop, GradientMethod, Problem, SymplecticAdjoint, losses};
use symplode_runtime::models::{Activation, Mlp, MlpConfig, ModelError};
use symplode_runtime::rng::Rng;
use symplode_runtime::scheme::Scheme;
use symplode_runtime::solver::Stepping;

const DIM: usize = 3;
const BATCH: usize = 21;
const BLOCK: usize = 8;

fn randn(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.normal()).collect()
}

/// The same network whole (one block) and in blocks of 8 rows.
fn pair(activation: Activation, time_input: bool) -> (Mlp<f64>, Mlp<f64>) {
    let config = MlpConfig::new(DIM, vec![6, 5, 6], activation, time_input);
    let whole = Mlp::new(config, 11)
        .unwrap()
        .with_row_block(usize::MAX)
        .unwrap();
    let blocked = whole.clone().with_row_block(BLOCK).unwrap();
    (whole, blocked)
}

fn assert_close(what: &str, a: &[f64], b: &[f64]) {
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "{what}: all zero");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-14 * scale, "{what}[{i}]: {x} vs {y}");
    }
}

fn scratch(m: &Mlp<f64>) -> Vec<f64> {
    vec![0.0; m.scratch_len(BATCH)]
}

/// (dx of eval, dx of eval_at, (gx, gp) of vjp, (gx, gp) of vjp_at, (dx, tape, gx, gp) taped).
#[allow(clippy::type_complexity)]
fn passes(m: &Mlp<f64>) -> [Vec<f64>; 9] {
    let mut rng = Rng::new(5);
    let x = randn(&mut rng, BATCH * DIM);
    let lam = randn(&mut rng, BATCH * DIM);
    let ts: Vec<f64> = randn(&mut rng, BATCH);
    let n = m.n_params();
    let mut s = scratch(m);
    let mut dx = vec![0.0; BATCH * DIM];
    m.eval(0.3, &x, &mut dx, &mut s);
    let mut dx_at = vec![0.0; BATCH * DIM];
    m.eval_at(&ts, &x, &mut dx_at, &mut s);
    let (mut gx, mut gp) = (vec![0.0; BATCH * DIM], vec![0.5; n]);
    m.vjp(0.3, &x, &lam, &mut gx, &mut gp, &mut s);
    let (mut gx_at, mut gp_at) = (vec![0.0; BATCH * DIM], vec![0.5; n]);
    m.vjp_at(&ts, &x, &lam, &mut gx_at, &mut gp_at, &mut s);
    let mut tape = vec![0.0; m.tape_len(BATCH)];
    let mut dx_t = vec![0.0; BATCH * DIM];
    m.eval_taped(0.3, &x, &mut dx_t, &mut tape);
    let (mut gx_t, mut gp_t) = (vec![0.0; BATCH * DIM], vec![0.5; n]);
    m.backward_taped(0.3, &x, &tape, &lam, &mut gx_t, &mut gp_t, &mut s);
    [
        dx,
        dx_at,
        gx,
        gp,
        gx_at,
        gp_at,
        dx_t,
        tape,
        [gx_t, gp_t].concat(),
    ]
}

#[test]
fn blocks_equal_the_whole_batch_on_every_path() {
    for (activation, time_input) in [
        (Activation::Tanh, true),
        (Activation::Tanh, false),
        (Activation::Silu, true),
        (Activation::Softplus, true),
    ] {
        let (whole, blocked) = pair(activation, time_input);
        assert!(blocked.scratch_len(BATCH) < whole.scratch_len(BATCH));
        assert_eq!(blocked.tape_len(BATCH), whole.tape_len(BATCH));
        let (a, b) = (passes(&whole), passes(&blocked));
        let names = [
            "eval",
            "eval_at",
            "vjp gx",
            "vjp gp",
            "vjp_at gx",
            "vjp_at gp",
        ];
        let label = |k: &str| format!("{activation:?} time {time_input}: {k}");
        for (k, name) in names.iter().enumerate() {
            if name.ends_with("gp") {
                assert_close(&label(name), &a[k], &b[k]);
            } else {
                assert_eq!(a[k], b[k], "{}", label(name));
            }
        }
        assert_eq!(a[6], b[6], "{}", label("eval_taped dx"));
        // Same values, laid out block by block.
        let sorted = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v
        };
        assert!(sorted(&a[7]) == sorted(&b[7]), "{}", label("tape values"));
        let gx = BATCH * DIM;
        assert_eq!(a[8][..gx], b[8][..gx], "{}", label("backward_taped gx"));
        assert_close(&label("backward_taped gp"), &a[8][gx..], &b[8][gx..]);
        // The taped pair is the VJP (same tape, same sweep).
        assert_eq!(a[8][..gx], a[2][..], "{}", label("taped = vjp"));
    }
}

#[test]
fn exact_gradients_through_a_blocked_network_equal_backprop() {
    let (whole, blocked) = pair(Activation::Tanh, true);
    let mut rng = Rng::new(9);
    let x0 = randn(&mut rng, BATCH * DIM);
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let grad = |m: &Mlp<f64>, method: &dyn GradientMethod<f64>| {
        let p = Problem::single(m, &[0.0, 1.0], &scheme, Stepping::fixed(5), &x0);
        let g = method
            .gradient(&p, &mut losses::mean_sq_final(DIM))
            .unwrap();
        [g.dtheta.concat(), g.dx0.clone()].concat()
    };
    let reference = grad(&whole, &Backprop);
    assert_close("blocked backprop", &reference, &grad(&blocked, &Backprop));
    assert_close(
        "blocked symplectic",
        &reference,
        &grad(&blocked, &SymplecticAdjoint),
    );
}

#[test]
fn the_default_block_follows_the_l2_and_zero_is_refused() {
    let config = MlpConfig::new(2, vec![256, 256], Activation::Tanh, true);
    let m = Mlp::<f64>::new(config.clone(), 1).unwrap();
    let l2 = symplode_runtime::linalg::cache::cache_sizes().l2;
    assert_eq!(m.row_block() % 8, 0);
    assert!(m.row_block() >= 64);
    assert!(m.row_block() * 256 * 8 <= (l2 / 2).max(64 * 256 * 8));
    // f32 rows are half as wide: at least as many per block.
    assert!(m.cast::<f32>().row_block() >= m.row_block());
    let err = Mlp::<f64>::new(config, 1)
        .unwrap()
        .with_row_block(0)
        .unwrap_err();
    assert!(matches!(err, ModelError::InvalidConfig { ref field, .. } if field == "row_block"));
    assert!(err.to_string().contains("row_block"), "{err}");
}
