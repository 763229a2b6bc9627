//! `symplode solve` and `symplode grad` on a flow model file (`form = "cnf"`): the NLL that
//! `solve --nll` reports equals the training's validation NLL for the trained weights (bit for
//! bit, exact trace in 2-D and Hutchinson with the run's noise in 17-D), `grad` gives the NLL
//! gradient that central differences of an independent evaluation give, and every bad input
//! is one error line naming the field or file.

#![cfg(feature = "cli")]

use std::path::Path;

use crate::common::{FLOW, exact_nll, fails, log_lines, ok, run, spec_fixture, succeeds, train};
use symplode::io::{NamedTensor, SafeTensors, npy, safetensors, save_weights};
use symplode::prelude::*;
use symplode::runtime::rng::Rng;
use symplode::train::FlowSpec;
use symplode::train::flow::{FlowSamples, FlowTrace};

/// A run file for `model`, validating every `every` iterations on a tenth of the samples.
fn run_toml(model: &str, iterations: u64, every: u64, data: &str) -> String {
    format!(
        r#"model = "{model}"
out = "out"
iterations = {iterations}
batch = 32
seed = 5
[data]
{data}
[optimizer]
lr = 0.01
[validation]
fraction = 0.1
every = {every}
"#
    )
}

/// A value of `solve`'s or `grad`'s `--json` report.
fn json_f64(stdout: &str, key: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key}: {stdout}"))
}

/// The validation rows of a run with seed 5 and fraction 0.1 on `samples` (`[n·dim]`), as
/// the trainer splits them, written to `held.npy`.
fn write_held(dir: &Path, samples: Vec<f64>, dim: usize) {
    let mut all = FlowSamples::new(samples, dim, 32, FlowTrace::Exact, 0.5).unwrap();
    let held = all.split_validation(0.1, 5).unwrap();
    npy::write(dir.join("held.npy"), &[held.len() / dim, dim], &held).unwrap();
}

#[test]
fn solve_nll_equals_the_training_validation_nll_bit_for_bit() {
    nll_equals_validation("flow-eval-2d", FLOW, false);
}

/// In f32 (`precision = "f32"` and `--f32`) too.
#[test]
fn in_f32_too() {
    nll_equals_validation("flow-eval-2d-f32", FLOW, true);
}

/// With adaptive steps the tolerances of a Hutchinson flow are scaled as in training.
#[test]
fn with_adaptive_steps_too() {
    let flow = FLOW
        .replace("tableau = \"rk4\"", "tableau = \"dopri5\"")
        .replace("steps = 4", "rtol = 1e-5\natol = 1e-5");
    nll_equals_validation("flow-eval-2d-adaptive", &flow, false);
}

/// Trains `flow` 20 iterations on moons and evaluates the held-out points with the CLI.
fn nll_equals_validation(name: &str, flow: &str, f32: bool) {
    let dir = crate::common::fresh_dir(name);
    std::fs::write(dir.join("flow.toml"), flow).unwrap();
    ok(&run(
        &dir,
        &["data", "toy", "moons", "--out", "x.npy", "--points", "400"],
    ));
    let mut cfg = run_toml("flow.toml", 20, 10, "samples = \"x.npy\"");
    if f32 {
        cfg = cfg.replace("seed = 5", "seed = 5\nprecision = \"f32\"");
    }
    std::fs::write(dir.join("run.toml"), cfg).unwrap();
    ok(&train(&dir, "run.toml", &[]));
    let val = log_lines(&dir.join("out/log.jsonl"))[19]["val_loss"]
        .as_f64()
        .unwrap();
    write_held(&dir, npy::read(dir.join("x.npy")).unwrap().to_vec(), 2);
    let mut eval = vec![
        "--model",
        "flow.toml",
        "--weights",
        "out/weights.safetensors",
        "--x0",
        "held.npy",
        "--json",
    ];
    if f32 {
        eval.push("--f32");
    }
    let solve = succeeds(&dir, &[&["solve", "--nll"][..], &eval].concat());
    let nll = json_f64(&solve, "nll");
    assert_eq!(nll.to_bits(), val.to_bits(), "solve --nll {nll} vs {val}");
    // grad's loss is the same number, and its default end time is the file's time_length.
    let grad = succeeds(&dir, &[&["grad"][..], &eval].concat());
    assert_eq!(json_f64(&grad, "loss").to_bits(), val.to_bits());
    assert_eq!(json_f64(&grad, "t1"), 0.5);
    // The text report says it, and --out writes [z, Δlogp] at both times.
    let text = succeeds(
        &dir,
        &[&["solve", "--nll", "--out", "s.npy"][..], &eval[..6]].concat(),
    );
    assert!(
        text.contains("nll         ") && text.contains("exact trace"),
        "{text}"
    );
    let s = npy::read(dir.join("s.npy")).unwrap();
    let held = npy::read(dir.join("held.npy")).unwrap();
    assert_eq!(s.shape, vec![2, held.shape[0], 3]);
    let (s, h): (Vec<f64>, Vec<f64>) = (s.to_vec(), held.to_vec());
    for (r, x) in s.chunks_exact(3).zip(h.chunks_exact(2)) {
        assert_eq!(r, [x[0], x[1], 0.0]);
    }
}

/// A 17-D flow is evaluated with Hutchinson's estimator: with the run's seed as
/// `--noise-seed` and adaptive steps, `solve --nll` still equals the validation NLL.
#[test]
fn a_wide_flow_with_the_runs_noise_seed_reproduces_its_validation_nll() {
    let dir = crate::common::fresh_dir("flow-eval-17d");
    let flow = FLOW
        .replace("dim = 2", "dim = 17")
        .replace("out = 16", "out = 8")
        .replace("out = 2", "out = 17")
        .replace("tableau = \"rk4\"", "tableau = \"dopri5\"")
        .replace("steps = 4", "rtol = 1e-4\natol = 1e-4");
    std::fs::write(dir.join("flow.toml"), flow).unwrap();
    let mut rng = Rng::new(11);
    let x: Vec<f64> = (0..200 * 17).map(|_| rng.normal()).collect();
    npy::write(dir.join("x.npy"), &[200, 17], &x).unwrap();
    std::fs::write(
        dir.join("run.toml"),
        run_toml("flow.toml", 2, 2, "samples = \"x.npy\""),
    )
    .unwrap();
    ok(&train(&dir, "run.toml", &[]));
    let val = log_lines(&dir.join("out/log.jsonl"))[1]["val_loss"]
        .as_f64()
        .unwrap();
    write_held(&dir, x, 17);
    let args = |seed: &'static str| {
        vec![
            "solve",
            "--model",
            "flow.toml",
            "--weights",
            "out/weights.safetensors",
            "--x0",
            "held.npy",
            "--nll",
            "--json",
            "--noise-seed",
            seed,
        ]
    };
    let nll = json_f64(&succeeds(&dir, &args("5")), "nll");
    assert_eq!(nll.to_bits(), val.to_bits(), "{nll} vs {val}");
    let other = json_f64(&succeeds(&dir, &args("6")), "nll");
    assert!(
        other != nll && (other - nll).abs() < 0.5 * nll.abs(),
        "{other} vs {nll}"
    );
    // `--trace exact` evaluates the 17-D flow exactly (17 JVPs per evaluation).
    let exact = succeeds(&dir, &[&args("5")[..], &["--trace", "exact"]].concat());
    let v: serde_json::Value = serde_json::from_str(exact.trim()).unwrap();
    assert!(
        v["summary"].as_str().unwrap().ends_with("exact trace"),
        "{v}"
    );
    let e = v["nll"].as_f64().unwrap();
    assert!(
        e.is_finite() && e != nll && (e - nll).abs() < 0.5 * nll.abs(),
        "{e} vs {nll}"
    );
}

#[test]
fn grad_gives_the_nll_gradient_of_central_differences() {
    let dir = crate::common::fresh_dir("flow-eval-grad");
    std::fs::write(dir.join("flow.toml"), FLOW).unwrap();
    let spec = FlowSpec::read(dir.join("flow.toml")).unwrap();
    let params = spec.init_params(3).unwrap();
    let net = spec.build::<f64>(FlowTrace::Exact, &params).unwrap();
    save_weights(dir.join("w.safetensors"), &net).unwrap();
    let mut rng = Rng::new(4);
    let x: Vec<f64> = (0..12 * 2).map(|_| 1.5 * rng.normal()).collect();
    npy::write(dir.join("x.npy"), &[12, 2], &x).unwrap();
    let files = [
        "--model",
        "flow.toml",
        "--weights",
        "w.safetensors",
        "--x0",
        "x.npy",
    ];
    let mut grads = Vec::new();
    for method in ["symplectic", "backprop"] {
        let out = format!("g-{method}.safetensors");
        let args = [&["grad"][..], &files, &["--method", method, "--out", &out]].concat();
        let text = succeeds(&dir, &args);
        assert!(text.contains("nll (−mean log p(x)"), "{text}");
        grads.push(SafeTensors::read(dir.join(&out)).unwrap());
    }
    let loss: f64 = grads[0].metadata()["loss"].parse().unwrap();
    let own = exact_nll(&params, &x);
    assert!((loss - own).abs() <= 1e-12 * own.abs(), "{loss} vs {own}");
    // dL/dθ: every tensor, a few entries each, against central differences (h = 1e-5).
    let h = 1e-5;
    let mut offset = 0;
    for t in net.param_tensors() {
        let g = grads[0].tensor(&t.name).unwrap();
        assert_eq!(g.shape, t.shape, "{}", t.name);
        let b = grads[1].tensor(&t.name).unwrap();
        for (u, v) in g.data.iter().zip(&b.data) {
            assert!(
                (u - v).abs() <= 1e-12 * (1.0 + v.abs()),
                "{}: {u} vs {v}",
                t.name
            );
        }
        for k in [0, g.data.len() / 2, g.data.len() - 1] {
            let mut p = params.clone();
            p[offset + k] += h;
            let up = exact_nll(&p, &x);
            p[offset + k] -= 2.0 * h;
            let down = exact_nll(&p, &x);
            let fd = (up - down) / (2.0 * h);
            let err = (g.data[k] - fd).abs();
            assert!(
                err <= 1e-7 * (1.0 + fd.abs()),
                "{}[{k}]: {} vs {fd}",
                t.name,
                g.data[k]
            );
        }
        offset += g.data.len();
    }
    assert_eq!(offset, params.len());
    // dL/dx0: the gradient with respect to the samples, [n, 2].
    let dx = grads[0].tensor("x0").unwrap();
    assert_eq!(dx.shape, vec![12, 2]);
    for i in [0, 7, 23] {
        let mut xp = x.clone();
        xp[i] += h;
        let up = exact_nll(&params, &xp);
        xp[i] -= 2.0 * h;
        let fd = (up - exact_nll(&params, &xp)) / (2.0 * h);
        assert!(
            (dx.data[i] - fd).abs() <= 1e-7 * (1.0 + fd.abs()),
            "x0[{i}]: {} vs {fd}",
            dx.data[i]
        );
    }
}

/// `--trace exact` is the default's number in 2-D; `--trace hutchinson` estimates it: each
/// noise seed gives another value, their mean within four standard errors of the exact NLL.
#[test]
fn trace_option_chooses_the_divergence() {
    let dir = crate::common::fresh_dir("flow-eval-trace");
    std::fs::write(dir.join("flow.toml"), FLOW).unwrap();
    let spec = FlowSpec::read(dir.join("flow.toml")).unwrap();
    let net = spec
        .build::<f64>(FlowTrace::Exact, &spec.init_params(8).unwrap())
        .unwrap();
    save_weights(dir.join("w.safetensors"), &net).unwrap();
    let mut rng = Rng::new(9);
    let x: Vec<f64> = (0..50 * 2).map(|_| 1.5 * rng.normal()).collect();
    npy::write(dir.join("x.npy"), &[50, 2], &x).unwrap();
    let nll = |more: &[&str]| {
        let base = [
            "solve",
            "--model",
            "flow.toml",
            "--weights",
            "w.safetensors",
            "--x0",
            "x.npy",
            "--nll",
            "--json",
        ];
        let out = succeeds(&dir, &[&base[..], more].concat());
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        (
            v["nll"].as_f64().unwrap(),
            v["summary"].as_str().unwrap().to_string(),
        )
    };
    let (exact, summary) = nll(&[]);
    assert!(summary.ends_with("exact trace"), "{summary}");
    assert_eq!(nll(&["--trace", "exact"]).0.to_bits(), exact.to_bits());
    let seeds: Vec<String> = (0..16).map(|s| s.to_string()).collect();
    let h: Vec<f64> = seeds
        .iter()
        .map(|s| {
            let (v, summary) = nll(&["--trace", "hutchinson", "--noise-seed", s]);
            assert!(summary.ends_with("hutchinson trace"), "{summary}");
            v
        })
        .collect();
    let n = h.len() as f64;
    let mean = h.iter().sum::<f64>() / n;
    let sd = (h.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!(sd > 0.0 && h[0] != exact, "{h:?}");
    assert!(
        (mean - exact).abs() < 4.0 * sd / n.sqrt(),
        "Hutchinson mean {mean} ± {} vs exact {exact}",
        sd / n.sqrt()
    );
}

#[test]
fn bad_flow_inputs_are_one_error_line_naming_the_field_or_file() {
    let dir = spec_fixture(
        "flow-eval-bad",
        "dim = 2\ntableau = \"rk4\"\n[[layers]]\nname = \"n\"\nout = 2\n[solver]\nsteps = 2\n",
        1,
        &[3, 2],
        &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    );
    std::fs::write(dir.join("flow.toml"), FLOW).unwrap();
    std::fs::write(dir.join("bad.toml"), FLOW.replace("\"tanh\"", "\"swish\"")).unwrap();
    let spec = FlowSpec::read(dir.join("flow.toml")).unwrap();
    let net = spec
        .build::<f64>(FlowTrace::Exact, &spec.init_params(1).unwrap())
        .unwrap();
    save_weights(dir.join("fw.safetensors"), &net).unwrap();
    let mut p = net.params().to_vec();
    let tensors = net.param_tensors();
    p[tensors[2].range().start] = f64::NAN;
    let named: Vec<NamedTensor<'_, f64>> = tensors
        .iter()
        .map(|t| NamedTensor::new(&t.name, &t.shape, &p[t.range()]))
        .collect();
    safetensors::write(dir.join("nan.safetensors"), &named, &Default::default()).unwrap();
    npy::write(dir.join("x3.npy"), &[4, 3], &[0.5f64; 12]).unwrap();
    let flow = |cmd: &'static str, model: &'static str, w: &'static str, x: &'static str| {
        vec![cmd, "--model", model, "--weights", w, "--x0", x]
    };
    let with = |mut a: Vec<&'static str>, more: &[&'static str]| {
        a.extend(more);
        a
    };
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            flow("solve", "flow.toml", "w.safetensors", "x0.npy"),
            &["w.safetensors", "`layers.0._layer.weight` not found"],
        ),
        (
            flow("grad", "flow.toml", "nan.safetensors", "x0.npy"),
            &["nan.safetensors", "NaN"],
        ),
        (
            flow("solve", "flow.toml", "fw.safetensors", "x3.npy"),
            &["x3.npy", "x0 has shape [4, 3]"],
        ),
        (
            flow("grad", "bad.toml", "fw.safetensors", "x0.npy"),
            &["bad.toml", "layers[0].activation"],
        ),
        (
            with(
                flow("solve", "m.toml", "w.safetensors", "x0.npy"),
                &["--nll"],
            ),
            &["--nll needs a flow model file", "m.toml"],
        ),
        (
            with(
                flow("grad", "m.toml", "w.safetensors", "x0.npy"),
                &["--loss", "nll"],
            ),
            &["--loss nll needs a flow model file", "m.toml"],
        ),
        (
            with(
                flow("grad", "flow.toml", "fw.safetensors", "x0.npy"),
                &["--loss", "mean-sumsq"],
            ),
            &["flow.toml is a flow model file"],
        ),
        (
            with(
                flow("grad", "flow.toml", "fw.safetensors", "x0.npy"),
                &["--cotangent", "x0.npy"],
            ),
            &["flow.toml is a flow model file"],
        ),
        (
            flow("hvp", "flow.toml", "fw.safetensors", "x0.npy"),
            &["flow.toml", "read by `grad` and `solve` only"],
        ),
    ];
    for (args, want) in &cases {
        fails(&dir, args, 1, want);
    }
    // The fixture itself is good.
    succeeds(&dir, &flow("grad", "flow.toml", "fw.safetensors", "x0.npy"));
}
