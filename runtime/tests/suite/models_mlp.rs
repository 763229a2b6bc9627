//! The MLP and its activations: VJPs against each other and against central differences,
//! taped against untaped evaluation, f32 against f64, parameter layout and constructor errors.

use symplode_codegen::ir::IrError;
use symplode_runtime::models::{Activation, ActivationKernels, Mlp, MlpConfig, ModelError, Saved};
use symplode_runtime::rng::Rng;
use symplode_runtime::{Dynamics, Real};

fn randn(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.normal()).collect()
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |a, x| a.max(x.abs()))
}

/// Asserts `|a − b| ≤ tol·max(1, ‖b‖∞)` elementwise.
fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = max_abs(b).max(1.0);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}[{i}]: {x} vs {y} (tol {tol}, scale {scale})"
        );
    }
}

// ---------------------------------------------------------------- activations

#[test]
fn activation_derivatives_match_finite_differences() {
    let xs: [f64; 11] = [
        -40.0, -8.0, -1.7, -0.4, -1e-3, 2e-3, 0.3, 1.1, 5.0, 19.0, 25.0,
    ];
    for act in Activation::ALL {
        for &x in &xs {
            let h = 1e-6 * f64::max(1.0, x.abs());
            let fd = (act.value(x + h) - act.value(x - h)) / (2.0 * h);
            let d = act.derivative(x);
            assert!(
                (d - fd).abs() <= 1e-8 * (1.0 + fd.abs()),
                "{act} at {x}: {d} vs {fd}"
            );
        }
    }
}

#[test]
fn activation_slice_forms_match_scalar_forms() {
    let mut rng = Rng::new(5);
    let mut xs: Vec<f64> = randn(&mut rng, 64).iter().map(|v| 4.0 * v).collect();
    xs.extend([-800.0, -50.0, -20.5, 0.0, 20.5, 50.0, 800.0]);
    let g: Vec<f64> = randn(&mut rng, xs.len());
    for act in Activation::ALL {
        let mut y = xs.clone();
        act.apply(&mut y);
        let mut y2 = vec![0.0; xs.len()];
        act.apply_to(&xs, &mut y2);
        assert_eq!(y, y2);
        for (i, &x) in xs.iter().enumerate() {
            assert_eq!(y[i], act.value(x), "{act} value at {x}");
            assert!(y[i].is_finite(), "{act}({x}) = {}", y[i]);
        }
        let saved = match act.saves() {
            Saved::Output => &y,
            Saved::Input => &xs,
        };
        let mut gd = g.clone();
        act.mul_derivative(saved, &mut gd);
        for (i, &x) in xs.iter().enumerate() {
            let want = g[i] * act.derivative(x);
            let tol = 4.0 * f64::EPSILON * want.abs() + 1e-300;
            // sigmoid/tanh from the output lose relative accuracy where σ' underflows to ~ε.
            let tol = if act.derivative(x) < 1e-12 {
                1e-15
            } else {
                tol.max(1e-15 * g[i].abs())
            };
            assert!(
                (gd[i] - want).abs() <= tol,
                "{act} derivative at {x}: {} vs {want}",
                gd[i]
            );
        }
    }
    // Stable tails.
    assert_eq!(Activation::Softplus.value(1000.0f64), 1000.0);
    assert!(Activation::Softplus.value(-1000.0f64) >= 0.0);
    assert_eq!(Activation::Sigmoid.value(-1000.0f64), 0.0);
    assert_eq!(Activation::Sigmoid.value(1000.0f64), 1.0);
    assert_eq!(Activation::Silu.value(-1000.0f64), -0.0);
    assert_eq!(Activation::Elu.value(-1000.0f64), -1.0);
    // expm1 keeps small values exact, log1p likewise.
    assert_eq!(Activation::Elu.value(-1e-20f64), -1e-20);
    let sp = Activation::Softplus.value(-50.0f64);
    assert!((sp - (-50.0f64).exp()).abs() < 1e-15 * sp);
}

#[test]
fn activation_names_parse_and_errors_list_valid_names() {
    for act in Activation::ALL {
        assert_eq!(act.name().parse::<Activation>().unwrap(), act);
        assert_eq!(act.to_string(), act.name());
    }
    let err = "gelu".parse::<Activation>().unwrap_err();
    // One `Activation` (the IR's): its parse error is the IR's.
    assert_eq!(
        err,
        IrError::UnknownActivation {
            name: "gelu".into(),
            expected: Activation::NAMES.join(", "),
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("gelu"));
    for name in Activation::NAMES {
        assert!(msg.contains(name), "{msg}");
    }
    assert!("Tanh".parse::<Activation>().is_err());
}

// ---------------------------------------------------------------- MLP helpers

struct Case {
    model: Mlp<f64>,
    batch: usize,
    x: Vec<f64>,
    lam: Vec<f64>,
    t: f64,
}

fn case(
    dim: usize,
    hidden: Vec<usize>,
    act: Activation,
    time: bool,
    batch: usize,
    seed: u64,
) -> Case {
    let model = Mlp::new(MlpConfig::new(dim, hidden, act, time), seed).unwrap();
    let mut rng = Rng::new(seed + 100);
    Case {
        model,
        batch,
        x: randn(&mut rng, batch * dim),
        lam: randn(&mut rng, batch * dim),
        t: 0.37,
    }
}

fn eval<T: Real>(m: &Mlp<T>, t: T, x: &[T]) -> Vec<T> {
    let batch = x.len() / m.dim();
    // Garbage in the scratch buffer must not leak into results.
    let mut scratch = vec![T::nan(); m.scratch_len(batch)];
    let mut dx = vec![T::nan(); x.len()];
    m.eval(t, x, &mut dx, &mut scratch);
    dx
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `(gx, gp)` by `vjp`, with `gp` starting from `gp0` (checks the accumulation).
fn vjp(c: &Case, gp0: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let m = &c.model;
    let mut scratch = vec![f64::NAN; m.scratch_len(c.batch)];
    let mut gx = vec![f64::NAN; c.x.len()];
    let mut gp = gp0.to_vec();
    m.vjp(c.t, &c.x, &c.lam, &mut gx, &mut gp, &mut scratch);
    (gx, gp)
}

fn taped(c: &Case, gp0: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let m = &c.model;
    let mut tape = vec![f64::NAN; m.tape_len(c.batch)];
    let mut scratch = vec![f64::NAN; m.scratch_len(c.batch)];
    let mut dx = vec![f64::NAN; c.x.len()];
    m.eval_taped(c.t, &c.x, &mut dx, &mut tape);
    let mut gx = vec![f64::NAN; c.x.len()];
    let mut gp = gp0.to_vec();
    m.backward_taped(c.t, &c.x, &tape, &c.lam, &mut gx, &mut gp, &mut scratch);
    (dx, gx, gp)
}

fn check_case(c: &mut Case) {
    let n = c.model.n_params();
    let gp0: Vec<f64> = (0..n).map(|i| 0.01 * i as f64).collect();
    let dx = eval(&c.model, c.t, &c.x);
    let (gx, gp) = vjp(c, &gp0);
    let (dx_t, gx_t, gp_t) = taped(c, &gp0);
    let what = format!("{:?}", c.model.config());
    assert_eq!(dx, dx_t, "{what}: eval_taped differs from eval");
    assert_close(&format!("{what} gx vjp/taped"), &gx, &gx_t, 1e-14);
    assert_close(&format!("{what} gp vjp/taped"), &gp, &gp_t, 1e-14);
    let gp: Vec<f64> = gp.iter().zip(&gp0).map(|(a, b)| a - b).collect();

    // Central differences of L = λ·f(x, t; θ).
    let h = 1e-6;
    let mut fd_x = vec![0.0; c.x.len()];
    for i in 0..c.x.len() {
        let mut xp = c.x.clone();
        xp[i] += h;
        let mut xm = c.x.clone();
        xm[i] -= h;
        fd_x[i] = (dot(&c.lam, &eval(&c.model, c.t, &xp)) - dot(&c.lam, &eval(&c.model, c.t, &xm)))
            / (2.0 * h);
    }
    assert_close(&format!("{what} gx vs FD"), &gx, &fd_x, 1e-7);
    let mut fd_p = vec![0.0; n];
    for j in 0..n {
        let v = c.model.params()[j];
        c.model.params_mut()[j] = v + h;
        let lp = dot(&c.lam, &eval(&c.model, c.t, &c.x));
        c.model.params_mut()[j] = v - h;
        let lm = dot(&c.lam, &eval(&c.model, c.t, &c.x));
        c.model.params_mut()[j] = v;
        fd_p[j] = (lp - lm) / (2.0 * h);
    }
    assert_close(&format!("{what} gp vs FD"), &gp, &fd_p, 1e-7);
}

// ---------------------------------------------------------------- MLP gradients

#[test]
fn mlp_vjps_match_each_other_and_finite_differences() {
    let mut seed = 1;
    for act in Activation::ALL {
        for time in [false, true] {
            for hidden in [vec![7, 5], vec![9, 6, 4]] {
                let mut c = case(3, hidden, act, time, 5, seed);
                check_case(&mut c);
                seed += 1;
            }
        }
    }
}

#[test]
fn mlp_shapes_exercising_all_tile_edges() {
    // One hidden layer, no hidden layer, width-1 layers, dim 1, batches around the tile size,
    // and wide first layers.
    let shapes: &[(usize, Vec<usize>, usize)] = &[
        (2, vec![16], 16),
        (3, vec![], 4),
        (1, vec![1, 1], 3),
        (1, vec![13], 7),
        (5, vec![16, 16], 13),
        (4, vec![3, 17, 2], 1),
        // First-layer widths past the 64- and 512-element stack buffers of the time column.
        (2, vec![100], 5),
        (2, vec![600], 3),
    ];
    let mut seed = 50;
    for (dim, hidden, batch) in shapes {
        for time in [false, true] {
            for act in [Activation::Tanh, Activation::Silu] {
                let mut c = case(*dim, hidden.clone(), act, time, *batch, seed);
                check_case(&mut c);
                seed += 1;
            }
        }
    }
}

#[test]
fn rows_are_independent_samples() {
    let c = case(3, vec![8, 8], Activation::Softplus, true, 11, 7);
    let all = eval(&c.model, c.t, &c.x);
    for (i, row) in c.x.chunks_exact(3).enumerate() {
        let one = eval(&c.model, c.t, row);
        assert_close("row", &one, &all[3 * i..3 * i + 3], 1e-15);
    }
}

#[test]
fn time_input_is_used_only_when_configured() {
    for time in [false, true] {
        let c = case(2, vec![6], Activation::Tanh, time, 3, 9);
        let a = eval(&c.model, 0.1, &c.x);
        let b = eval(&c.model, 0.9, &c.x);
        assert_eq!(a == b, !time);
    }
    // With time input the network equals the same MLP on [x, t] without time input.
    let c = case(2, vec![6, 5], Activation::Elu, true, 4, 10);
    let mut cfg = c.model.config().clone();
    cfg.time_input = false;
    cfg.dim = 3;
    // Rebuild as a 3 → … → 3 network whose last layer has an extra zero output row.
    let mut params = c.model.params().to_vec();
    let tensors = c.model.param_tensors();
    let last_w = &tensors[tensors.len() - 2];
    let last_b = &tensors[tensors.len() - 1];
    let (h_last, _) = (last_w.shape[1], last_w.shape[0]);
    let mut w = params[last_w.range()].to_vec();
    w.extend(std::iter::repeat_n(0.0, h_last));
    let mut b = params[last_b.range()].to_vec();
    b.push(0.0);
    params.truncate(last_w.offset);
    params.extend(w);
    params.extend(b);
    let plain = Mlp::<f64>::from_params(cfg, params).unwrap();
    let xt: Vec<f64> =
        c.x.chunks_exact(2)
            .flat_map(|r| [r[0], r[1], c.t])
            .collect();
    let want = eval(&plain, 0.0, &xt);
    let got = eval(&c.model, c.t, &c.x);
    for i in 0..c.batch {
        assert_close(
            "[x,t]",
            &got[2 * i..2 * i + 2],
            &want[3 * i..3 * i + 2],
            1e-15,
        );
    }
}

#[test]
fn f32_agrees_with_f64() {
    for act in Activation::ALL {
        for time in [false, true] {
            let c = case(4, vec![16, 16], act, time, 9, 20);
            let m32: Mlp<f32> = c.model.cast();
            let x32: Vec<f32> = c.x.iter().map(|&v| v as f32).collect();
            let y32: Vec<f64> = eval(&m32, c.t as f32, &x32)
                .iter()
                .map(|&v| v as f64)
                .collect();
            let y64 = eval(&c.model, c.t, &c.x);
            assert_close(&format!("f32 {act}"), &y32, &y64, 2e-6);
            // And the f32 VJP is consistent with the f64 one.
            let mut s = vec![0.0f32; m32.scratch_len(9)];
            let lam32: Vec<f32> = c.lam.iter().map(|&v| v as f32).collect();
            let mut gx = vec![0.0f32; x32.len()];
            let mut gp = vec![0.0f32; m32.n_params()];
            m32.vjp(c.t as f32, &x32, &lam32, &mut gx, &mut gp, &mut s);
            let (gx64, gp64) = vjp(&c, &vec![0.0; c.model.n_params()]);
            let gx: Vec<f64> = gx.iter().map(|&v| v as f64).collect();
            let gp: Vec<f64> = gp.iter().map(|&v| v as f64).collect();
            assert_close(&format!("f32 gx {act}"), &gx, &gx64, 1e-5);
            assert_close(&format!("f32 gp {act}"), &gp, &gp64, 1e-5);
        }
    }
}

#[test]
fn empty_batch_is_a_no_op() {
    let m = Mlp::<f64>::new(MlpConfig::new(3, vec![4], Activation::Tanh, true), 1).unwrap();
    assert_eq!((m.scratch_len(0), m.tape_len(0)), (0, 0));
    let mut gp = vec![1.0; m.n_params()];
    m.eval(0.0, &[], &mut [], &mut []);
    m.vjp(0.0, &[], &[], &mut [], &mut gp, &mut []);
    m.eval_taped(0.0, &[], &mut [], &mut []);
    m.backward_taped(0.0, &[], &[], &[], &mut [], &mut gp, &mut []);
    assert!(gp.iter().all(|&v| v == 1.0));
}

// ---------------------------------------------------------------- layout and construction

#[test]
fn param_tensors_cover_the_flat_vector() {
    for time in [false, true] {
        let cfg = MlpConfig::new(3, vec![8, 5], Activation::Relu, time);
        let m = Mlp::<f64>::new(cfg.clone(), 3).unwrap();
        let inp = 3 + usize::from(time);
        let tensors = m.param_tensors();
        let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "layers.0.weight",
                "layers.0.bias",
                "layers.1.weight",
                "layers.1.bias",
                "layers.2.weight",
                "layers.2.bias"
            ]
        );
        let shapes: Vec<Vec<usize>> = tensors.iter().map(|t| t.shape.clone()).collect();
        assert_eq!(
            shapes,
            vec![
                vec![8, inp],
                vec![8],
                vec![5, 8],
                vec![5],
                vec![3, 5],
                vec![3]
            ]
        );
        let mut off = 0;
        for t in &tensors {
            assert_eq!(t.offset, off, "{}", t.name);
            off += t.len();
        }
        assert_eq!(off, m.n_params());
        assert_eq!(m.n_params(), cfg.n_params().unwrap());
        assert_eq!(m.n_params(), 8 * inp + 8 + 5 * 8 + 5 + 3 * 5 + 3);
        // PyTorch default init bounds: |w|, |b| ≤ 1/√fan_in.
        for t in &tensors {
            let fan_in = if t.name.starts_with("layers.0") {
                inp
            } else if t.name.starts_with("layers.1") {
                8
            } else {
                5
            };
            let bound = 1.0 / (fan_in as f64).sqrt();
            assert!(
                m.params()[t.range()].iter().all(|v| v.abs() <= bound),
                "{}",
                t.name
            );
        }
    }
}

#[test]
fn init_is_deterministic_in_the_seed() {
    let cfg = MlpConfig::new(2, vec![4], Activation::Tanh, false);
    let a = Mlp::<f64>::new(cfg.clone(), 11).unwrap();
    let b = Mlp::<f64>::new(cfg.clone(), 11).unwrap();
    let c = Mlp::<f64>::new(cfg.clone(), 12).unwrap();
    assert_eq!(a.params(), b.params());
    assert_ne!(a.params(), c.params());
    let a32 = Mlp::<f32>::new(cfg, 11).unwrap();
    assert_eq!(a32.params(), a.cast::<f32>().params());
}

#[test]
fn constructor_errors_say_what_and_where() {
    let cfg = MlpConfig::new(3, vec![4], Activation::Tanh, true);
    let n = cfg.n_params().unwrap();
    assert_eq!(n, 4 * 4 + 4 + 3 * 4 + 3);
    let err = Mlp::<f64>::from_params(cfg.clone(), vec![0.0; n - 1]).unwrap_err();
    match &err {
        ModelError::ParamCount {
            expected,
            got,
            layout,
            ..
        } => {
            assert_eq!((*expected, *got), (n, n - 1));
            assert!(layout.contains("layers.0.weight [4, 4]"), "{layout}");
        }
        e => panic!("unexpected {e:?}"),
    }
    assert!(err.to_string().contains(&format!("expected {n}")), "{err}");
    assert!(Mlp::<f64>::from_params(cfg.clone(), vec![0.0; n]).is_ok());

    let mut p = vec![0.0; n];
    p[20 + 5] = f64::NAN; // layers.1.weight, element 5
    match Mlp::<f64>::from_params(cfg.clone(), p).unwrap_err() {
        ModelError::NonFinite { tensor, index, .. } => {
            assert_eq!((tensor.as_str(), index), ("layers.1.weight", 5))
        }
        e => panic!("unexpected {e:?}"),
    }

    let e = Mlp::<f64>::new(MlpConfig::new(0, vec![4], Activation::Tanh, false), 0).unwrap_err();
    assert!(
        matches!(&e, ModelError::InvalidConfig { field, .. } if field == "dim"),
        "{e}"
    );
    let e =
        Mlp::<f64>::new(MlpConfig::new(2, vec![4, 0, 3], Activation::Tanh, false), 0).unwrap_err();
    assert!(
        matches!(&e, ModelError::InvalidConfig { field, .. } if field == "hidden[1]"),
        "{e}"
    );
    assert!(e.to_string().contains("hidden[1]"));
    let e = MlpConfig::new(2, vec![usize::MAX / 2, 4], Activation::Tanh, false)
        .n_params()
        .unwrap_err();
    assert!(matches!(e, ModelError::InvalidConfig { .. }), "{e}");
}

#[test]
fn buffer_sizes_are_as_documented() {
    // tanh: tape B·Σh; scratch = tape + 2·B·H (bias and time-column gradients accumulate
    // into gp row by row: no column-sum buffer).
    let m = Mlp::<f64>::new(MlpConfig::new(3, vec![8, 5, 6], Activation::Tanh, true), 1).unwrap();
    assert_eq!(m.tape_len(10), 10 * 19);
    assert_eq!(m.scratch_len(10), 10 * 19 + 2 * 10 * 8);
    // silu keeps an extra B·H work buffer on the tape and in the backward scratch.
    let m = Mlp::<f64>::new(MlpConfig::new(3, vec![8, 5, 6], Activation::Silu, true), 1).unwrap();
    assert_eq!(m.tape_len(10), 10 * 19 + 10 * 8);
    assert_eq!(m.scratch_len(10), 10 * 19 + 10 * 8 + 2 * 10 * 8 + 10 * 8);
    // No hidden layer: no buffers at all.
    let m = Mlp::<f64>::new(MlpConfig::new(3, vec![], Activation::Silu, false), 1).unwrap();
    assert_eq!((m.tape_len(10), m.scratch_len(10)), (0, 0));
}
