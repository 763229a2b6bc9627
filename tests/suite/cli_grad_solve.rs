//! The `symplode` binary end to end: `grad` with every method writes exactly the gradients the
//! library computes, `--json` parses, `solve` writes [K, batch, dim] states.

#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{MODEL_ARGS, spec_fixture, symplode};
use symplode::io::{ModelSpec, SafeTensors, npy};
use symplode::prelude::*;
use symplode::runtime::rng::Rng;

const SPEC: &str = r#"
dim = 2
time_input = true
tableau = "dopri5"

[[layers]]
name = "net.0"
out = 16
activation = "tanh"

[[layers]]
name = "net.2"
out = 16
activation = "tanh"

[[layers]]
name = "net.4"
out = 2

[solver]
rtol = 1e-6
atol = 1e-8
"#;

const BATCH: usize = 5;

/// A fresh directory holding m.toml, w.safetensors (seeded PyTorch-style init) and x0.npy.
fn fixture(name: &str) -> PathBuf {
    let mut rng = Rng::new(7);
    let x0: Vec<f64> = (0..BATCH * 2)
        .map(|_| rng.uniform_range(-1.5, 1.5))
        .collect();
    spec_fixture(&format!("cli-{name}"), SPEC, 2021, &[BATCH, 2], &x0)
}

/// Runs `symplode args…` in `dir`, which must succeed.
fn run(dir: &Path, args: &[&str]) -> Output {
    let out = crate::common::run(dir, args);
    assert!(
        out.status.success(),
        "symplode {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The library's own gradient for the fixture (dopri5, loss mean ‖x(1)‖²).
fn reference(dir: &Path, stepping: Stepping, method: &dyn GradientMethod<f64>) -> GradResult<f64> {
    let spec = ModelSpec::read(dir.join("m.toml")).unwrap();
    let net = spec
        .build::<f64>(&SafeTensors::read(dir.join("w.safetensors")).unwrap())
        .unwrap();
    let scheme = Scheme::<f64>::builtin("dopri5").unwrap();
    let x0: Vec<f64> = npy::read(dir.join("x0.npy")).unwrap().to_vec();
    let problem = Problem::single(&net, &[0.0, 1.0], &scheme, stepping, &x0);
    method
        .gradient(&problem, &mut losses::mean_sq_final(2))
        .unwrap()
}

/// dL/dx0 and dL/dθ (flat, in parameter order) from a gradient file.
fn read_grads(path: &Path, names: &[String]) -> (Vec<f64>, Vec<f64>) {
    let f = SafeTensors::read(path).unwrap();
    let x0 = f.tensor("x0").unwrap();
    assert_eq!(x0.shape, vec![BATCH, 2]);
    let theta = names
        .iter()
        .flat_map(|n| f.tensor(n).unwrap().data)
        .collect();
    (x0.data, theta)
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn grad_writes_the_library_gradient_for_every_method() {
    let dir = fixture("grad");
    let names = ModelSpec::parse(SPEC, "m").unwrap().tensor_names();
    let methods: [(&str, Box<dyn GradientMethod<f64>>); 6] = [
        ("symplectic", Box::new(SymplecticAdjoint)),
        ("symplectic-stored", Box::new(SymplecticAdjointStored)),
        ("backprop", Box::new(Backprop)),
        ("adjoint", Box::new(Adjoint::default())),
        ("aca", Box::new(CheckpointStep)),
        ("checkpoint-component", Box::new(CheckpointComponent)),
    ];
    let mut exact = Vec::new();
    for (name, method) in &methods {
        let out = format!("g-{name}.safetensors");
        let mut args = vec!["grad", "--method", name, "--out", &out];
        args.extend(MODEL_ARGS);
        run(&dir, &args);
        let (dx0, dtheta) = read_grads(&dir.join(&out), &names);
        let r = reference(&dir, Stepping::adaptive(1e-6, 1e-8), method.as_ref());
        assert_eq!(bits(&dx0), bits(&r.dx0), "{name}: dL/dx0");
        assert_eq!(bits(&dtheta), bits(&r.dtheta[0]), "{name}: dL/dθ");
        if *name != "adjoint" {
            exact.push(dtheta);
        }
    }
    // The exact methods agree with each other to rounding.
    for g in &exact[1..] {
        let scale = exact[0].iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let diff = g
            .iter()
            .zip(&exact[0])
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff <= 1e-12 * scale, "{diff}");
    }
}

#[test]
fn grad_json_reports_the_run() {
    let dir = fixture("json");
    let mut args = vec!["grad"];
    args.extend(MODEL_ARGS);
    args.extend([
        "--tableau",
        "rk4",
        "--steps",
        "7",
        "--json",
        "--method",
        "backprop",
    ]);
    let out = run(&dir, &args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["method"], "backprop");
    assert_eq!(v["tableau"], "rk4");
    assert_eq!(
        v["steps"]["accepted"], 7,
        "--steps overrides the spec's rtol/atol"
    );
    assert_eq!(v["nfe_forward"], 28);
    assert_eq!(v["dtheta_norms"].as_array().unwrap().len(), 6);
    assert_eq!(v["dtheta_norms"][0]["name"], "net.0.weight");
    assert_eq!(v["dtheta_norms"][0]["shape"], serde_json::json!([16, 3]));
    for k in ["checkpoint", "graph", "workspace", "total"] {
        assert!(
            v["memory_predicted"][k].as_u64().unwrap() > 0 || k == "checkpoint",
            "{k}"
        );
        assert!(v["memory_measured"][k].is_u64(), "{k}");
    }
    assert!(v["memory_measured"]["total"].as_u64() <= v["memory_predicted"]["total"].as_u64());
    assert!(v["wall_seconds"].as_f64().unwrap() >= 0.0);
    let spec = ModelSpec::read(dir.join("m.toml")).unwrap();
    let net = spec
        .build::<f64>(&SafeTensors::read(dir.join("w.safetensors")).unwrap())
        .unwrap();
    let scheme = Scheme::<f64>::builtin("rk4").unwrap();
    let x0: Vec<f64> = npy::read(dir.join("x0.npy")).unwrap().to_vec();
    let problem = Problem::single(&net, &[0.0, 1.0], &scheme, Stepping::fixed(7), &x0);
    let r = Backprop
        .gradient(&problem, &mut losses::mean_sq_final(2))
        .unwrap();
    assert_eq!(v["loss"].as_f64().unwrap().to_bits(), r.loss.to_bits());
    let text = String::from_utf8(run(&dir, &args[..args.len() - 3]).stdout).unwrap();
    for key in [
        "loss",
        "‖dL/dx0‖",
        "‖dL/dθ‖",
        "NFE",
        "predicted",
        "measured",
        "wall time",
    ] {
        assert!(text.contains(key), "text report lacks {key}:\n{text}");
    }
}

#[test]
fn grad_with_cotangent_and_f32() {
    let dir = fixture("cot");
    let c: Vec<f64> = (0..BATCH * 2).map(|i| (i as f64 - 4.0) / 7.0).collect();
    npy::write(dir.join("c.npy"), &[BATCH, 2], &c).unwrap();
    let mut args = vec!["grad"];
    args.extend(MODEL_ARGS);
    args.extend([
        "--cotangent",
        "c.npy",
        "--out",
        "g.safetensors",
        "--steps",
        "5",
    ]);
    run(&dir, &args);
    let names = ModelSpec::parse(SPEC, "m").unwrap().tensor_names();
    let (dx0, dtheta) = read_grads(&dir.join("g.safetensors"), &names);
    let spec = ModelSpec::read(dir.join("m.toml")).unwrap();
    let net = spec
        .build::<f64>(&SafeTensors::read(dir.join("w.safetensors")).unwrap())
        .unwrap();
    let scheme = Scheme::<f64>::builtin("dopri5").unwrap();
    let x0: Vec<f64> = npy::read(dir.join("x0.npy")).unwrap().to_vec();
    let problem = Problem::single(&net, &[0.0, 1.0], &scheme, Stepping::fixed(5), &x0);
    let r = SymplecticAdjoint
        .gradient(
            &problem,
            &mut losses::linear(vec![symplode::runtime::solver::Trajectory::single(c)]),
        )
        .unwrap();
    assert_eq!(bits(&dx0), bits(&r.dx0));
    assert_eq!(bits(&dtheta), bits(&r.dtheta[0]));

    args.push("--f32");
    run(&dir, &args);
    let f = SafeTensors::read(dir.join("g.safetensors")).unwrap();
    assert_eq!(f.info("x0").unwrap().1, "F32");
    let g32 = f.tensor("net.0.weight").unwrap().data;
    let g64 = &r.dtheta[0][..g32.len()];
    let scale = g64.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = g32
        .iter()
        .zip(g64)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff < 1e-4 * scale, "f32 vs f64: {diff}");
}

#[test]
fn solve_writes_states_at_every_time() {
    let dir = fixture("solve");
    let mut args = vec!["solve"];
    args.extend(MODEL_ARGS);
    args.extend(["--times", "0,0.25,1", "--out", "s.npy", "--json"]);
    let out = run(&dir, &args);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["shape"], serde_json::json!([3, BATCH, 2]));
    let a = npy::read(dir.join("s.npy")).unwrap();
    assert_eq!(a.shape, vec![3, BATCH, 2]);
    let spec = ModelSpec::read(dir.join("m.toml")).unwrap();
    let net = spec
        .build::<f64>(&SafeTensors::read(dir.join("w.safetensors")).unwrap())
        .unwrap();
    let scheme = Scheme::<f64>::builtin("dopri5").unwrap();
    let x0: Vec<f64> = npy::read(dir.join("x0.npy")).unwrap().to_vec();
    let sol = solve(
        &net,
        &scheme,
        &Stepping::adaptive(1e-6, 1e-8),
        &[0.0, 0.25, 1.0],
        &x0,
    )
    .unwrap();
    let mut want = x0.clone();
    want.extend(sol.states.as_slice());
    assert_eq!(bits(&a.data), bits(&want));
    assert_eq!(v["steps"]["accepted"], sol.counters.accepted);

    let mut args = vec!["solve"];
    args.extend(MODEL_ARGS);
    args.extend([
        "--t0", "-0.5", "--t1", "0.5", "--out", "s2.npy", "--steps", "3", "--f32",
    ]);
    let text = String::from_utf8(run(&dir, &args).stdout).unwrap();
    assert!(text.contains("3 accepted"), "{text}");
    let a = npy::read(dir.join("s2.npy")).unwrap();
    assert_eq!(
        (a.shape, a.dtype),
        (vec![2, BATCH, 2], symplode::io::Dtype::F32)
    );
}

#[test]
fn memory_frontier_methods_from_the_command_line() {
    let dir = fixture("frontier");
    let names: Vec<String> = ModelSpec::read(dir.join("m.toml"))
        .unwrap()
        .build::<f64>(&SafeTensors::read(dir.join("w.safetensors")).unwrap())
        .unwrap()
        .param_tensors()
        .into_iter()
        .map(|t| t.name)
        .collect();
    let grads = |extra: &[&str], file: &str| {
        let mut args: Vec<&str> = vec!["grad"];
        args.extend(MODEL_ARGS);
        args.extend(["--tableau", "dopri5", "--steps", "12", "--out", file]);
        args.extend(extra);
        let out = run(&dir, &args);
        (
            read_grads(&dir.join(file), &names),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // Binomial checkpoints: the symplectic adjoint's gradient, bit for bit.
    let (sym, _) = grads(&["--method", "symplectic"], "s.safetensors");
    let (bin, _) = grads(
        &["--method", "symplectic-binomial", "--checkpoints", "3"],
        "b.safetensors",
    );
    assert_eq!(bits(&bin.0), bits(&sym.0));
    assert_eq!(bits(&bin.1), bits(&sym.1));
    // Reversible: equal to backprop through the same reversible scheme.
    let (rev, _) = grads(
        &["--method", "reversible", "--lambda", "0.9"],
        "r.safetensors",
    );
    let (refr, _) = grads(
        &["--method", "reversible-backprop", "--lambda", "0.9"],
        "rb.safetensors",
    );
    // Infinite, so failing, when either has a value that is not finite.
    let diff = symplode::runtime::compare::max_rel_diff(&rev.1, &refr.1);
    assert!(diff <= 1e-10, "reversible vs reversible-backprop: {diff:e}");
    // Auto: says which method it picked and why.
    let (_, text) = grads(
        &["--method", "auto", "--memory-budget", "64MiB"],
        "a.safetensors",
    );
    assert!(text.contains("auto: "), "{text}");
    // A budget nothing fits is one clear error naming the smallest achievable peak.
    let mut args: Vec<&str> = vec!["grad"];
    args.extend(MODEL_ARGS);
    args.extend(["--method", "auto", "--memory-budget", "1KiB"]);
    let out = symplode().current_dir(&dir).args(&args).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{err}"
    );
    // No checkpoint at all (C counts the start's): one clear error naming the option.
    let mut args: Vec<&str> = vec!["grad"];
    args.extend(MODEL_ARGS);
    args.extend(["--method", "symplectic-binomial", "--checkpoints", "0"]);
    let out = symplode().current_dir(&dir).args(&args).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("checkpoints") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn per_sample_steps_from_the_command_line() {
    let dir = fixture("per-sample");
    let names = ModelSpec::parse(SPEC, "m").unwrap().tensor_names();
    let mut args = vec![
        "grad",
        "--method",
        "symplectic",
        "--per-sample",
        "--out",
        "g.safetensors",
    ];
    args.extend(MODEL_ARGS);
    run(&dir, &args);
    let (dx0, dtheta) = read_grads(&dir.join("g.safetensors"), &names);
    let stepping = Stepping::adaptive(1e-6, 1e-8).per_sample();
    let r = reference(&dir, stepping, &SymplecticAdjoint);
    assert_eq!(r.sample_grids[0].len(), BATCH);
    assert_eq!(bits(&dx0), bits(&r.dx0), "dL/dx0");
    assert_eq!(bits(&dtheta), bits(&r.dtheta[0]), "dL/dθ");
    let mut solve = vec![
        "solve",
        "--per-sample",
        "--times",
        "0,0.5,1",
        "--out",
        "s.npy",
    ];
    solve.extend(MODEL_ARGS);
    run(&dir, &solve);
    let mut fixed = vec![
        "grad",
        "--per-sample",
        "--steps",
        "4",
        "--out",
        "f.safetensors",
    ];
    fixed.extend(MODEL_ARGS);
    let out = symplode().current_dir(&dir).args(&fixed).output().unwrap();
    assert!(!out.status.success(), "--per-sample with --steps must fail");
}
